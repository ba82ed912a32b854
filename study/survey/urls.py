"""Participant pages: /s/<slug>/ is the study link, /p/<token>/ the participant's own URL."""
from django.urls import path

from study.survey import views as participant

urlpatterns = [
    path("s/<slug:slug>/", participant.landing, name="participant-landing"),
    path("s/<slug:slug>/declined/", participant.declined, name="participant-declined"),
    path("p/<str:token>/", participant.participant_page, name="participant-page"),
    path("p/<str:token>/intro/", participant.intro_done, name="participant-intro-done"),
    path("p/<str:token>/complete/", participant.complete, name="participant-complete"),
    path("p/<str:token>/answer/", participant.answer, name="participant-answer"),
    path("p/<str:token>/withdraw/", participant.withdraw, name="participant-withdraw"),
    path("p/<str:token>/block/<int:block_id>/", participant.answer_block, name="participant-block"),
]
