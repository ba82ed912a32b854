"""The explanations gallery, under /r/gallery/ (researchers only)."""

from django.urls import path

from study.views import gallery

urlpatterns = [
    path("", gallery.gallery, name="gallery"),
    path("photo/<slug:name>.png", gallery.photo, name="gallery-photo"),
    path("map/<str:key>/<slug:render_name>.png", gallery.explanation, name="gallery-map"),
]
