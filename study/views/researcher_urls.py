"""Researcher pages under /r/. The dashboard sits at <slug>/dashboard/ so that /r/gaze/ and
/r/gallery/ (mounted after this module) stay reachable."""

from django.urls import path

from study.views import researcher

urlpatterns = [
    path("", researcher.study_list, name="researcher-home"),
    path("<slug:slug>/dashboard/", researcher.study_dashboard, name="researcher-dashboard"),
    path("<slug:slug>/trials.csv", researcher.trials_csv, name="researcher-trials-csv"),
    path("<slug:slug>/participants.csv", researcher.participants_csv, name="researcher-participants-csv"),
]
