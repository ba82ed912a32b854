"""Study URLs: each concern owns one module of views and one of URLs."""
from django.urls import include, path

urlpatterns = [
    path("r/", include("study.research.urls")),
    path("r/", include("study.building.urls")),
    path("r/gaze/", include("study.gaze.urls")),
    path("r/jobs/", include("study.jobs.urls")),
    path("", include("study.survey.urls")),
]
