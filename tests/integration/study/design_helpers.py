"""Answer the questions of a study of any design over the test client, right or wrong on purpose."""
import re

from django.test import Client
from django.urls import reverse

from study.models import Item, Participant, Study, Trial

OPTION_VALUES = re.compile(r'name="option" value="([^"]*)"')


def panel_of(trial: Trial, name: str) -> str:
    """The panel number (1-based, as the page sends it) showing class `name` in the trial."""
    return str(trial.presented_options.index(name) + 1)


def answer_fields(design: str, trial: Trial, item: Item, right: bool) -> dict:
    """The POST fields of an answer its design scores right (`right`) or wrong."""
    if design == "agreement":  # right: judged correct exactly when the model is
        scale = trial.presented_options
        return {"option": scale[0] if right == item.model_correct else scale[-1]}
    if design == "learn_predict" and not trial.presented_options:  # a training trial: Next, nothing asked
        return {"option": "(seen)"}
    if design == "distinction":
        wrong = next(option for option in trial.presented_options if option != item.answer)
        return {"option": panel_of(trial, item.answer if right else wrong)}
    wrong = next(option for option in trial.presented_options if option != item.answer)
    return {"option": item.answer if right else wrong}


def post(client: Client, participant: Participant, trial: Trial, **fields):
    """POST the answer `fields` to the trial; returns the response."""
    return client.post(f"/p/{participant.token}/answer/", {"trial": trial.pk, "rt_ms": 900, **fields})


def page_of(client: Client, participant: Participant):
    """The participant's current page: (its Page, its HTML)."""
    response = client.get(f"/p/{participant.token}/")
    assert response.status_code == 200
    return response.context["page"], response.content.decode()


def answer_all(client: Client, participant: Participant, right) -> None:
    """Read the intro and answer every question; `right(item)` says whether to answer it right."""
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    design = participant.study.design
    for _ in range(participant.trials.count()):
        page, _ = page_of(client, participant)
        trial = page.trial
        assert post(client, participant, trial, **answer_fields(design, trial, trial.item,
                                                                right(trial.item))).status_code == 302


def preview_each_arm(study: Study, researcher) -> list[Participant]:
    """As `researcher`, preview `study` in each arm and answer every question right: the preview
    participants, each completed."""
    client = Client()
    client.force_login(researcher)
    participants = []
    for arm in study.arms.all():
        response = client.post(reverse("researcher-preview", args=[study.slug]), {"arm": arm.pk})
        assert response.status_code == 302
        participant = Participant.objects.get(is_preview=True, arm=arm)
        answer_all(client, participant, right=lambda item: True)
        participant.refresh_from_db()
        assert participant.status == Participant.Status.COMPLETED
        participants.append(participant)
    return participants
