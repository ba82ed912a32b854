"""All of the app's URLs, plus /bench/floor/: the floor to compare the participant pages with."""
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns


def floor(request: HttpRequest) -> HttpResponse:
    """A trivial view on the same stack: every middleware, a session read and written in the database."""
    request.session["hits"] = request.session.get("hits", 0) + 1
    return HttpResponse("ok")


urlpatterns = [path("bench/floor/", floor), *app_urlpatterns]
