"""Top-level URLs: participant pages under /s/ and /p/, researcher pages under /r/ (the site root
leads there), admin, participants' media and the favicon."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from study.media import participant_media


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """/favicon.ico, for pages that do not link the icon (admin, media opened on their own)."""
    return HttpResponseRedirect(static("study/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("media/<path:path>", participant_media, name="participant-media"),
    path("", RedirectView.as_view(pattern_name="researcher-home"), name="home"),
    path("", include("study.urls")),
]
