"""The learn_predict design over HTTP: blocks in round order, each shuffled per participant; a training
page shows the decision and the arm's explanation (the decision alone in a control arm) and stores SEEN
with no verdict; a test page shows the image alone and is scored like simulation; feedback on the next
page; the export's round and phase columns."""
from html import unescape

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client

from study.models import Study, Trial
from study.models.study import CANT_TELL, CONTROL
from study.research.export import trials_dataframe
from study.survey.designs.learn_predict import SEEN
from tests.factories import make_study
from tests.integration.study.design_helpers import OPTION_VALUES, answer_all, page_of, post, preview_each_arm
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db

OPTIONS = {"rounds": 2, "train_per_round": 4, "test_per_round": 2, "error_share": 0.5}
BLOCKS = [(1, "train")] * 4 + [(1, "test")] * 2 + [(2, "train")] * 4 + [(2, "test")] * 2


def started(slug: str) -> tuple[Client, object]:
    client = Client()
    participant = consent(client, slug)
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    return client, participant


def block_of(item) -> tuple[int, str]:
    return item.details["round"], item.details["phase"]


def test_trials_come_block_after_block_each_block_shuffled_per_participant():
    study = make_study("lp", design="learn_predict", design_options=OPTIONS, techniques=("gradcam",))
    errors = [sum(not i.model_correct for i in study.items.all() if block_of(i) == b) for b in set(BLOCKS)]
    assert sorted(errors) == [1, 1, 2, 2]  # half of each block: 2 of 4 training items, 1 of 2 test items
    orders = set()
    for _ in range(4):
        _, participant = started("lp")
        items = [t.item for t in participant.trials.select_related("item").order_by("presented_position")]
        assert [block_of(item) for item in items] == BLOCKS
        for key in set(BLOCKS):
            assert {i.pk for i in items if block_of(i) == key} == set(
                study.items.filter(details=dict(zip(("round", "phase"), key))).values_list("pk", flat=True))
        orders.add(tuple(item.pk for item in items))
    assert len(orders) > 1


def test_training_then_test_pages_and_answers():
    make_study("lp", design="learn_predict", design_options=OPTIONS, techniques=("gradcam",))
    client, participant = started("lp")
    page, html = page_of(client, participant)
    item = page.trial.item
    assert "Round 1 of 2 — learning" in html and "predicting" not in html
    assert f"The model's decision: <strong>{item.model_prediction}</strong>" in html
    assert page.stimulus is not None and page.stimulus.image.url in html and html.count("<img") == 2
    assert OPTION_VALUES.findall(html) == [SEEN] and "type=\"radio\"" not in html and "Keys 1-" not in html
    assert f'name="option" value="{SEEN}"' in html
    for bad in ("", "anything", item.model_prediction):
        assert post(client, participant, page.trial, option=bad).status_code == 400
    assert post(client, participant, page.trial, option=SEEN).status_code == 302
    trial = Trial.objects.get(pk=page.trial.pk)
    assert (trial.chosen_option, trial.correct_guess, trial.details, trial.rt_ms) == (
        SEEN, None, {"round": 1, "phase": "train"}, 900)
    assert trial.presented_options == []
    for _ in range(3):
        page, _ = page_of(client, participant)
        assert post(client, participant, page.trial, option=SEEN).status_code == 302
    page, html = page_of(client, participant)
    item = page.trial.item
    assert "Round 1 of 2 — predicting" in html and "What will the model decide?" in html
    assert page.stimulus is None and html.count("<img") == 1 and "/media/stimuli/" not in html
    assert "The model's decision" not in html
    presented = page.trial.presented_options
    assert [unescape(v) for v in OPTION_VALUES.findall(html)] == presented and presented[-1] == CANT_TELL
    assert sorted(presented) == sorted(item.options)
    for bad in ("", SEEN, "Not an option"):
        assert post(client, participant, page.trial, option=bad).status_code == 400
    assert post(client, participant, page.trial, option=item.model_prediction).status_code == 302
    trial = Trial.objects.get(pk=page.trial.pk)
    assert (trial.chosen_option, trial.correct_guess, trial.details) == (
        item.model_prediction, True, {"round": 1, "phase": "test"})
    page, _ = page_of(client, participant)
    assert post(client, participant, page.trial, option=CANT_TELL).status_code == 302
    assert Trial.objects.get(pk=page.trial.pk).correct_guess is False


@pytest.mark.parametrize("feedback", [True, False])
def test_feedback_after_a_test_answer_names_the_models_decision(feedback):
    make_study("lp", design="learn_predict", design_options=OPTIONS | {"feedback": feedback},
               techniques=("gradcam",))
    client, participant = started("lp")
    for _ in range(4):
        page, html = page_of(client, participant)
        assert "the model decided" not in html
        assert post(client, participant, page.trial, option=SEEN).status_code == 302
    page, html = page_of(client, participant)
    assert "the model decided" not in html  # after a training page, nothing to say
    first = page.trial.item
    assert post(client, participant, page.trial, option=first.model_prediction).status_code == 302
    page, html = page_of(client, participant)
    assert (f"Right: the model decided <strong>{first.model_prediction}</strong>." in html) is feedback
    second = page.trial.item
    assert post(client, participant, page.trial, option=CANT_TELL).status_code == 302
    page, html = page_of(client, participant)  # round 2's first training page
    assert "Round 2 of 2 — learning" in html
    assert (f"Not quite: the model decided <strong>{second.model_prediction}</strong>." in html) is feedback
    assert ("Right:" in html) is False


def test_the_control_arm_learns_from_the_decision_alone_and_trials_need_no_confidence_when_nothing_is_asked():
    make_study("lp", design="learn_predict", design_options=OPTIONS, techniques=(CONTROL,),
               confidence_rating=3)
    client, participant = started("lp")
    page, html = page_of(client, participant)
    assert f"The model's decision: <strong>{page.trial.item.model_prediction}</strong>" in html
    assert page.stimulus is None and html.count("<img") == 1 and "/media/stimuli/" not in html
    assert 'name="confidence"' not in html
    assert post(client, participant, page.trial, option=SEEN).status_code == 302
    trial = Trial.objects.get(pk=page.trial.pk)
    assert (trial.chosen_option, trial.correct_guess, trial.confidence) == (SEEN, None, None)


def test_the_export_has_round_and_phase_and_no_verdict_for_training():
    study = make_study("lp", design="learn_predict", design_options=OPTIONS, techniques=("gradcam", CONTROL))
    for _ in range(2):
        client = Client()
        answer_all(client, consent(client, "lp"), right=lambda item: True)
    trials = trials_dataframe(study).sort_values(["participant", "presented_position"])
    assert list(trials.columns[-2:]) == ["round", "phase"]
    assert len(trials) == 24
    for _, rows in trials.groupby("participant"):
        assert list(zip(rows["round"], rows["phase"])) == BLOCKS
        training = rows[rows["phase"] == "train"]
        assert set(training["chosen_option"]) == {SEEN} and training["correct_guess"].isna().all()
        assert rows[rows["phase"] == "test"]["correct_guess"].tolist() == [True] * 4


def test_each_arm_can_be_previewed_to_the_end_and_counts_nowhere(django_user_model):
    study = make_study("lp", design="learn_predict", design_options=OPTIONS,
                       techniques=("gradcam", CONTROL), status=Study.Status.DRAFT)
    researcher = django_user_model.objects.create_superuser("res-lp", password="pw-Secret-123")
    for participant in preview_each_arm(study, researcher):
        trials = participant.trials.order_by("presented_position")
        verdicts = list(trials.values_list("correct_guess", flat=True))
        assert verdicts == [None] * 4 + [True] * 2 + [None] * 4 + [True] * 2
    assert trials_dataframe(study).empty


def test_analyze_study_writes_the_learning_curve_and_the_utility_against_the_control_arm(tmp_path):
    """Two explained and two control participants: explained ones predict every test item, control ones
    only round 2's first test item they meet (1 of 2); the report's curve and utility say so."""
    make_study("lp-analysis", design="learn_predict", design_options=OPTIONS,
                       techniques=("gradcam", CONTROL))
    seen_test = {}
    for _ in range(4):  # round-robin: gradcam, none, gradcam, none
        client = Client()
        participant = consent(client, "lp-analysis")

        def right(item, participant=participant):
            if item.details["phase"] != "test" or participant.arm.technique != CONTROL:
                return True
            count = seen_test.setdefault(participant.pk, [0])
            count[0] += 1
            return count[0] == 3  # the first test item of round 2
        answer_all(client, participant, right)
    call_command("analyze_study", "lp-analysis", "--out", str(tmp_path))
    curve = pd.read_csv(tmp_path / "learning_curve.csv").set_index(["arm", "round"])["mean"].to_dict()
    assert curve == {("gradcam", 1): 1.0, ("gradcam", 2): 1.0, (CONTROL, 1): 0.0, (CONTROL, 2): 0.5}
    utility = pd.read_csv(tmp_path / "utility.csv", dtype={"round": str}).set_index("round")
    assert utility.loc["all", "utility"] == pytest.approx(1.0 / 0.25)  # 4 of 4 against 1 of 4
    assert (tmp_path / "learning_curve.png").stat().st_size > 0
