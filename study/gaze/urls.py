"""Gaze data set pages under /r/gaze/ (staff only)."""

from django.urls import path

from study.gaze import views as gaze

urlpatterns = [
    path("", gaze.dataset_list, name="gaze-list"),
    path("upload/", gaze.upload, name="gaze-upload"),
    path("<slug:name>/", gaze.dataset_detail, name="gaze-dataset"),
    path("<slug:name>/report/", gaze.report_start, name="gaze-report-start"),
    path("<slug:name>/s/<str:stimulus>/", gaze.stimulus_detail, name="gaze-stimulus"),
    path(
        "<slug:name>/s/<str:stimulus>/image",
        gaze.stimulus_file,
        {"kind": "image"},
        name="gaze-stimulus-image",
    ),
    path(
        "<slug:name>/s/<str:stimulus>/gfdm.png",
        gaze.stimulus_file,
        {"kind": "gfdm"},
        name="gaze-stimulus-gfdm",
    ),
    path(
        "<slug:name>/s/<str:stimulus>/map/<str:method>.png",
        gaze.stimulus_file,
        {"kind": "map"},
        name="gaze-stimulus-map",
    ),
]
