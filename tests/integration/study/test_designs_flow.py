"""The agreement and distinction designs over HTTP: what the trial page shows, how an answer is checked,
stored and scored, and attention checks failing participants in every design."""
import pytest
from django.test import Client

from study.models import Item, Participant, Stimulus, Study, Trial
from study.models.study import CONTROL
from study.research.dashboard import summarize
from study.research.export import participants_dataframe, trials_dataframe
from study.survey.designs.agreement import HIVE_SCALE
from tests.factories import CLASSES, make_study
from tests.integration.study.design_helpers import (OPTION_VALUES, answer_all, page_of, panel_of, post,
                                                    preview_each_arm)
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db


def started(slug: str) -> tuple[Client, Participant]:
    """A new participant of study `slug` past the intro, with their client."""
    client = Client()
    participant = consent(client, slug)
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    return client, participant


# Distinction


def test_distinction_pages_show_the_panels_in_the_stored_order_numbered_without_names():
    make_study("d1", design="distinction", design_options={"k": 3}, techniques=("gradcam",))
    client, participant = started("d1")
    shuffled = []
    for number in range(5):
        page, html = page_of(client, participant)
        item, stored = page.trial.item, Trial.objects.get(pk=page.trial.pk).presented_options
        assert sorted(stored) == sorted(item.options) and len(stored) == 3
        stimuli = {s.target: s for s in Stimulus.objects.filter(item=item, arm=participant.arm)}
        assert [panel.pk for panel in page.panels] == [stimuli[name].pk for name in stored]
        places = [html.index(stimuli[name].image.url) for name in stored]
        assert places == sorted(places)
        assert OPTION_VALUES.findall(html) == ["1", "2", "3"]
        assert not [name for name in item.options if name in html]  # show_labels is off
        panel = number % 3 + 1
        assert post(client, participant, page.trial, option=str(panel)).status_code == 302
        trial = Trial.objects.get(pk=page.trial.pk)
        assert trial.chosen_option == stored[panel - 1]
        assert trial.correct_guess == (stored[panel - 1] == item.model_prediction)
        assert trial.details == {"k": 3, "chosen_panel": panel}
        shuffled.append(stored != item.options)
    assert any(shuffled)  # the model's ranking is not the order shown


def test_distinction_with_labels_names_each_panel():
    make_study("d1", design="distinction", design_options={"k": 4, "show_labels": True}, techniques=("pv",))
    _, participant = started("d1")
    page, html = page_of(Client(), participant)
    for number, name in enumerate(page.trial.presented_options, 1):
        assert f"Explanation {number}: {name}" in html and f"<b>{number}</b> {name}</figcaption>" in html


def test_the_correct_class_question_and_its_confidence_are_required_and_scored():
    study = make_study("d1", design="distinction", techniques=("gradcam",), confidence_rating=5,
                       design_options={"k": 3, "show_labels": True, "ask_correct_class": True})
    # items the model got right: their true class is the model's third; the others': none of the panels
    for item in study.items.all():
        outside = next(name for name in CLASSES if name not in item.options)
        Item.objects.filter(pk=item.pk).update(
            true_labels=[item.options[2] if item.model_correct else outside])
    client, participant = started("d1")
    page, html = page_of(client, participant)
    trial, item = page.trial, Item.objects.get(pk=page.trial.item_id)
    assert "Which class do you think is correct?" in html
    assert 'name="correct_class_confidence"' in html
    complete = {"option": panel_of(trial, item.model_prediction), "confidence": 2,
                "correct_class": panel_of(trial, item.options[2]), "correct_class_confidence": 4}
    for missing in ("correct_class", "correct_class_confidence", "confidence"):
        fields = {key: value for key, value in complete.items() if key != missing}
        assert post(client, participant, trial, **fields).status_code == 400, missing
    for key, bad in (("option", "4"), ("option", "0"), ("option", item.model_prediction),
                     ("correct_class", "-1"), ("correct_class_confidence", "6")):
        assert post(client, participant, trial, **(complete | {key: bad})).status_code == 400, (key, bad)
    untouched = Trial.objects.get(pk=trial.pk)
    assert (untouched.answered_at, untouched.chosen_option, untouched.details) == (None, "", {})
    assert post(client, participant, trial, **complete).status_code == 302
    answered = Trial.objects.get(pk=trial.pk)
    assert (answered.chosen_option, answered.correct_guess, answered.confidence) == (
        item.model_prediction, True, 2)
    assert answered.details == {"k": 3, "chosen_panel": int(complete["option"]),
                                "correct_class": item.options[2],
                                "correct_class_right": True if item.model_correct else None,
                                "correct_class_confidence": 4}
    seen = {item.model_correct}
    while True:  # the rest: a wrong panel, the first panel as the correct class
        page, _ = page_of(client, participant)
        if page.trial is None:
            break
        trial, item = page.trial, Item.objects.get(pk=page.trial.item_id)
        chosen = next(name for name in trial.presented_options if name != item.model_prediction)
        assert post(client, participant, trial, option=panel_of(trial, chosen), confidence=5,
                    correct_class="1", correct_class_confidence=1).status_code == 302
        answered = Trial.objects.get(pk=trial.pk)
        assert (answered.chosen_option, answered.correct_guess) == (chosen, False)
        first = trial.presented_options[0]
        assert answered.details["correct_class"] == first
        assert answered.details["correct_class_right"] == (first == item.options[2] if item.model_correct
                                                           else None)  # None: no true class in the panels
        seen.add(item.model_correct)
    assert seen == {True, False}


# Agreement


def test_agreement_shows_the_scale_in_order_and_scores_points_from_the_first_label():
    make_study("a1", design="agreement", techniques=("gradcam", CONTROL))
    client, participant = started("a1")
    assert participant.arm.technique == "gradcam"
    # label index -> (point, judged correct), HIVE's four points
    expected = {0: (4, True), 1: (3, True), 2: (2, False), 3: (1, False)}
    for number in range(5):
        page, html = page_of(client, participant)
        item = page.trial.item
        assert OPTION_VALUES.findall(html) == list(HIVE_SCALE) == page.trial.presented_options
        assert f"The model predicts: <strong>{item.model_prediction}</strong>" in html
        assert Stimulus.objects.get(item=item, arm=participant.arm).image.url in html
        index = number % 4
        assert post(client, participant, page.trial, option=HIVE_SCALE[index]).status_code == 302
        trial = Trial.objects.get(pk=page.trial.pk)
        point, judged = expected[index]
        assert trial.chosen_option == HIVE_SCALE[index]
        assert trial.details == {"agreement": point, "judged_correct": judged}
        assert trial.correct_guess == (judged == item.model_correct)


def test_a_custom_scale_maps_its_first_label_to_the_top_point():
    scale = ["Sure right", "Likely right", "Maybe right", "Maybe wrong", "Likely wrong", "Sure wrong"]
    make_study("a1", design="agreement", design_options={"scale": scale}, techniques=("gradcam",))
    client, participant = started("a1")
    for label, point, judged in (("Maybe right", 4, True), ("Maybe wrong", 3, False),
                                 ("Sure right", 6, True)):
        page, html = page_of(client, participant)
        assert OPTION_VALUES.findall(html) == scale
        assert post(client, participant, page.trial, option=label).status_code == 302
        trial = Trial.objects.get(pk=page.trial.pk)
        assert trial.details == {"agreement": point, "judged_correct": judged}
        assert trial.correct_guess == (judged == page.trial.item.model_correct)


def test_the_agreement_control_arm_shows_the_prediction_and_no_explanation():
    make_study("a1", design="agreement", techniques=("gradcam", CONTROL))
    started("a1")
    client, participant = started("a1")
    assert participant.arm.is_control
    page, html = page_of(client, participant)
    assert page.stimulus is None and page.panels == ()
    assert f"The model predicts: <strong>{page.trial.item.model_prediction}</strong>" in html
    assert html.count("<img") == 1 and "/media/stimuli/" not in html and "The explanation" not in html
    for bad in (page.trial.item.model_prediction, "1", ""):
        assert post(client, participant, page.trial, option=bad).status_code == 400
    assert Trial.objects.get(pk=page.trial.pk).answered_at is None
    assert post(client, participant, page.trial, option=HIVE_SCALE[-1]).status_code == 302
    trial = Trial.objects.get(pk=page.trial.pk)
    assert trial.details == {"agreement": 1, "judged_correct": False}
    assert trial.correct_guess is (not trial.item.model_correct)


# Attention checks, every design


@pytest.mark.parametrize("design", ["simulation", "agreement", "distinction"])
def test_failed_attention_checks_count_in_every_design(design):
    study = make_study("c1", n_correct=2, n_incorrect=1, n_attention=2, design=design,
                       techniques=("gradcam",), attention_failures_to_fail=2)
    for item in study.items.filter(is_attention_check=True):  # as a build makes them: the model is right
        Item.objects.filter(pk=item.pk).update(model_correct=True, true_labels=[item.model_prediction])
    careless_client = Client()
    careless = consent(careless_client, "c1")
    answer_all(careless_client, careless, right=lambda item: not item.is_attention_check)
    careful_client = Client()
    careful = consent(careful_client, "c1")
    answer_all(careful_client, careful, right=lambda item: item.is_attention_check)
    careless.refresh_from_db()
    careful.refresh_from_db()
    assert (careless.status, careless.outcome) == ("completed", Participant.Outcome.FAILED_ATTENTION)
    assert (careful.status, careful.outcome) == ("completed", Participant.Outcome.COMPLETED)
    checks = Trial.objects.filter(item__is_attention_check=True)
    assert list(checks.filter(participant=careless).values_list("correct_guess", flat=True)) == [False] * 2
    assert list(checks.filter(participant=careful).values_list("correct_guess", flat=True)) == [True] * 2
    assert summarize(study).total.attention_failures == 2
    failures = participants_dataframe(study).set_index("participant")["attention_failures"]
    assert failures.to_dict() == {careless.pk: 2, careful.pk: 0}


@pytest.mark.parametrize("design, techniques", [(Study.Design.AGREEMENT, ("gradcam", CONTROL)),
                                                (Study.Design.DISTINCTION, ("gradcam", "gradcam++"))])
def test_each_arm_of_a_design_can_be_previewed_to_the_end_and_counts_nowhere(django_user_model, design,
                                                                             techniques):
    study = make_study(f"preview-{design}", techniques=techniques, design=design, status=Study.Status.DRAFT)
    researcher = django_user_model.objects.create_superuser("res-preview", password="pw-Secret-123")
    for participant in preview_each_arm(study, researcher):
        assert participant.trials.filter(correct_guess=True).count() == study.items.count()
    assert trials_dataframe(study).empty
