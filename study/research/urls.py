"""Researcher pages under /r/. The dashboard sits under the literal studies/ so that no
pattern here captures the build, gaze and gallery pages mounted after this module (/r/gaze/...)."""

from django.urls import path

from study.research import views as researcher

urlpatterns = [
    path("", researcher.study_list, name="researcher-home"),
    path("studies/<slug:slug>/", researcher.study_dashboard, name="researcher-dashboard"),
    path("studies/<slug:slug>/preview/", researcher.study_preview, name="researcher-preview"),
    path("studies/<slug:slug>/settings/", researcher.study_settings, name="study-settings"),
    path("studies/<slug:slug>/clicks-gaze/", researcher.clicks_gaze_start, name="study-clicks-gaze"),
    path("studies/<slug:slug>/analysis/", researcher.analysis, name="study-analysis"),
    path("studies/<slug:slug>/analysis/start/", researcher.analysis_start, name="study-analysis-start"),
    path("studies/<slug:slug>/analysis/<int:pk>/<str:name>", researcher.analysis_file, name="study-analysis-file"),
    path("<slug:slug>/trials.csv", researcher.export_file, {"table": "trials", "fmt": "csv"},
         name="researcher-trials-csv"),
    path("<slug:slug>/clicks.csv", researcher.export_file, {"table": "clicks", "fmt": "csv"},
         name="researcher-clicks-csv"),
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
