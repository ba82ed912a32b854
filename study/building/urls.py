"""Building pages under /r/: the study builder and the explanations gallery (researchers only)."""
from django.urls import path

from study.building import gallery, views

urlpatterns = [
    path("build/", views.build, name="study-build"),
    path("gallery/", gallery.gallery, name="gallery"),
    path("gallery/photo/<slug:name>.png", gallery.photo, name="gallery-photo"),
    path("gallery/map/<str:key>/<slug:render_name>.png", gallery.explanation, name="gallery-map"),
]
