"""Drive the participant pages with Django's test client."""
from django.test import Client

from study.models import Participant, Trial


def consent(client: Client, slug: str = "s1", query: str = "") -> Participant:
    """GET the landing page, POST its consent form, return the new participant."""
    landing = client.get(f"/s/{slug}/{query}")
    assert landing.status_code == 200
    form = {"consent_key": landing.context["consent_key"], **landing.context["params"]}
    response = client.post(f"/s/{slug}/", form)
    assert response.status_code == 302
    participant = Participant.objects.get(consent_key=form["consent_key"])
    assert response.url == f"/p/{participant.token}/"
    return participant


def current_trial(client: Client, participant: Participant) -> Trial:
    """GET the participant's page, which must be a question; return its trial."""
    response = client.get(f"/p/{participant.token}/")
    assert response.status_code == 200
    assert "study/participant/question.html" in [t.name for t in response.templates]
    return response.context["page"].trial


def post_answer(client: Client, participant: Participant, trial: Trial, option: str | None = None, rt_ms=1234):
    """POST an answer (the first presented option unless given) and return the response."""
    option = trial.presented_options[0] if option is None else option
    return client.post(f"/p/{participant.token}/answer/", {"trial": trial.pk, "option": option, "rt_ms": rt_ms})


def run_to_completion(client: Client, participant: Participant) -> None:
    """Read the intro and answer every question with its first presented option."""
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    for _ in range(participant.trials.count()):
        trial = current_trial(client, participant)
        assert post_answer(client, participant, trial).status_code == 302
