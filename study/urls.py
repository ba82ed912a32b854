"""Study URLs: each area of the app owns one module of views."""
from django.urls import include, path

urlpatterns = [
    path("r/", include("study.views.researcher_urls")),
    path("r/gaze/", include("study.views.gaze_urls")),
    path("r/gallery/", include("study.views.gallery_urls")),
    path("r/jobs/", include("study.views.jobs_urls")),
    path("", include("study.views.participant_urls")),
]
