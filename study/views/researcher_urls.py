"""Researcher pages under /r/. The dashboard sits under the literal studies/ so that no
pattern here captures the gaze and gallery pages mounted after this module (/r/gaze/...)."""

from django.urls import path

from study.views import researcher

urlpatterns = [
    path("", researcher.study_list, name="researcher-home"),
    path("studies/<slug:slug>/", researcher.study_dashboard, name="researcher-dashboard"),
    path("<slug:slug>/trials.csv", researcher.trials_csv, name="researcher-trials-csv"),
    path("<slug:slug>/participants.csv", researcher.participants_csv, name="researcher-participants-csv"),
]
