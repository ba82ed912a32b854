"""Top-level URLs: participant pages under /s/ and /p/, researcher pages under /r/ (the site root
leads there), admin, and participants' media."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from study.views.media import participant_media

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("media/<path:path>", participant_media, name="participant-media"),
    path("", RedirectView.as_view(pattern_name="researcher-home"), name="home"),
    path("", include("study.urls")),
]
