"""Job pages under /r/jobs/ (staff only)."""
from django.urls import path

from study.jobs import views as jobs

urlpatterns = [
    path("", jobs.job_list, name="job-list"),
    path("<int:pk>/", jobs.job_detail, name="job-detail"),
    path("<int:pk>/status.json", jobs.job_status, name="job-status"),
    path("<int:pk>/cancel/", jobs.job_cancel, name="job-cancel"),
    path("<int:pk>/retry/", jobs.job_retry, name="job-retry"),
    path("<int:pk>/files/<str:name>", jobs.job_file, name="job-file"),
]
