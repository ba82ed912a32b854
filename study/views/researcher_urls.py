"""Researcher pages under /r/. The dashboard sits under the literal studies/ so that no
pattern here captures the gaze and gallery pages mounted after this module (/r/gaze/...)."""

from django.urls import path

from study.views import researcher

urlpatterns = [
    path("", researcher.study_list, name="researcher-home"),
    path("studies/<slug:slug>/", researcher.study_dashboard, name="researcher-dashboard"),
    path("<slug:slug>/trials.csv", researcher.export_file, {"table": "trials", "fmt": "csv"},
         name="researcher-trials-csv"),
    path("<slug:slug>/participants.csv", researcher.export_file, {"table": "participants", "fmt": "csv"},
         name="researcher-participants-csv"),
    path("<slug:slug>/trials.parquet", researcher.export_file, {"table": "trials", "fmt": "parquet"},
         name="researcher-trials-parquet"),
    path("<slug:slug>/participants.parquet", researcher.export_file,
         {"table": "participants", "fmt": "parquet"},
         name="researcher-participants-parquet"),
    path("<slug:slug>/questionnaire.csv", researcher.export_file, {"table": "questionnaire", "fmt": "csv"},
         name="researcher-questionnaire-csv"),
    path("<slug:slug>/questionnaire.parquet", researcher.export_file,
         {"table": "questionnaire", "fmt": "parquet"}, name="researcher-questionnaire-parquet"),
]
