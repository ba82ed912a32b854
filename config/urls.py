"""Top-level URLs: participant pages at the root, researcher pages under /r/, admin."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from study.views.media import participant_media

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("media/<path:path>", participant_media, name="participant-media"),
    path("", include("study.urls")),
]
