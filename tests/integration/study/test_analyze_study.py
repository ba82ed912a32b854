"""analyze_study: a small real study answered through the ORM gives the expected tables and files."""

from datetime import timedelta

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image
from scipy import stats

from study.models import Participant, Trial
from study.models.study import CANT_TELL
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def answer_all(study, arm_name, right, status="completed", fail_attention=False):
    """A participant of `arm_name` who names the model's prediction on the items in `right`
    (by position), says "can't tell" on the others, and passes the attention check."""
    now = timezone.now()
    participant = Participant.objects.create(study=study, arm=study.arms.get(name=arm_name))
    Participant.objects.filter(pk=participant.pk).update(
        status=status, completed_at=now if status == "completed" else None
    )
    for place, item in enumerate(study.items.order_by("position")):
        if item.is_attention_check:
            wrong = next(o for o in item.options if o not in {item.expected_option, CANT_TELL})
            chosen = wrong if fail_attention else item.expected_option
        else:
            chosen = item.model_prediction if item.position in right else CANT_TELL
        Trial.objects.create(
            participant=participant, item=item, presented_position=place, presented_options=item.options,
            shown_at=now - timedelta(seconds=5), chosen_option=chosen, correct_guess=chosen == item.answer,
            rt_ms=1500, answered_at=now,
        )
    return participant


@pytest.fixture
def answered_study():
    """Items 0-2 model right, 3-4 model wrong, 5 attention check; 3 Grad-CAM and 3 PV completers."""
    study = make_study("analyzed", n_correct=3, n_incorrect=2, n_attention=1)
    for right in ({0, 1, 2}, {0, 1, 2}, {0, 1}):
        answer_all(study, "gradcam", right)
    for right in ({0, 3, 4}, {1, 3}, {3, 4}):
        answer_all(study, "pv", right, fail_attention=right == {1, 3})
    answer_all(study, "pv", set(), status="withdrawn")  # never counts
    return study


def test_writes_the_tables_and_histograms(answered_study, tmp_path):
    out = tmp_path / "analysis"
    call_command("analyze_study", "analyzed", "--out", str(out))
    assert {p.name for p in out.iterdir()} == {
        "table1.csv", "table1.md", "table1.tex", "mannwhitney.csv", "mannwhitney.tex", "mixed_model.csv",
        "cant_tell.csv", "questions.csv", "participation.csv", "histogram_model_correct.png",
        "histogram_model_incorrect.png",
    }
    table = pd.read_csv(out / "table1.csv").set_index(["arm", "subset"])
    # Grad-CAM, model right: 3/3, 3/3, 2/3; model wrong: 0/2 each. PV, right: 1/3, 1/3, 0/3; wrong: 2/2, 1/2, 2/2
    assert table.loc[("gradcam", "model correct"), ["n", "mean"]].tolist() == [3, pytest.approx(8 / 9)]
    assert table.loc[("gradcam", "model incorrect"), "mean"] == 0.0
    assert table.loc[("pv", "model correct"), "mean"] == pytest.approx(2 / 9)
    assert table.loc[("pv", "model incorrect"), ["n", "mean"]].tolist() == [3, pytest.approx(5 / 6)]
    assert (table["chance"] == 0.25).all()
    tests = pd.read_csv(out / "mannwhitney.csv").set_index("subset")
    assert tests.loc["model incorrect", "alternative"] == "less" and tests.loc["model correct", "alternative"] == "greater"
    # model wrong: Grad-CAM 0 0 0 vs PV 1 .5 1, every pair lower: U = 0, effect -1
    assert tests.loc["model incorrect", "u"] == 0 and tests.loc["model incorrect", "effect"] == -1
    # 3 vs 3 participants: exact p over the 20 splits (PV's 1, .5, 1 tie: the permutation
    # distribution of the tied ranks), a warning, and a degenerate interval at complete separation
    wrong = tests.loc["model incorrect"]
    assert wrong["method"] == "exact permutation (ties)" and wrong["pvalue"] == pytest.approx(1 / 20)
    assert wrong["warning"].startswith("fewer than 10 participants") and wrong["ci_degenerate"]
    mixed = pd.read_csv(out / "mixed_model.csv")
    assert {"C(arm)[T.pv]", "model_right", "sd(participant)", "sd(item)"} <= set(mixed["term"])
    participation = pd.read_csv(out / "participation.csv").set_index("arm")
    assert participation.loc["pv", ["consented", "completed", "withdrawn", "failed_attention"]].tolist() == [4, 3, 1, 1]
    markdown = (out / "table1.md").read_text()
    assert "| gradcam | gradcam | 3 | 88.9% (±11.1%) | 0.0% (±0.0%) |" in markdown
    assert "-1.00 (interval degenerate)" in markdown and "Logistic mixed model" in markdown
    with Image.open(out / "histogram_model_incorrect.png") as image:
        assert image.format == "PNG"


def test_the_papers_normal_approximation_on_request(answered_study, tmp_path):
    call_command("analyze_study", "analyzed", "--out", str(tmp_path), "--method", "asymptotic")
    tests = pd.read_csv(tmp_path / "mannwhitney.csv").set_index("subset")
    assert (tests["method"] == "normal approximation").all()
    # U = 0 of 9 pairs; tied ranks: Grad-CAM's three 0s and PV's two 1s
    assert tests.loc["model incorrect", "pvalue"] == pytest.approx(
        stats.mannwhitneyu([0, 0, 0], [1, 0.5, 1], alternative="less", use_continuity=False,
                           method="asymptotic").pvalue)


def test_unknown_study_and_empty_study_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("analyze_study", "nope", "--out", str(tmp_path / "a"))
    make_study("empty")
    with pytest.raises(CommandError, match="no answered questions"):
        call_command("analyze_study", "empty", "--out", str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_the_analysis_job_offers_the_commands_files_for_download(answered_study, tmp_path, jobs_inline, client,
                                                                 django_user_model):
    from study.models import Job

    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    with jobs_inline():
        call_command("analyze_study", "analyzed", "--out", str(tmp_path / "unused"), "--enqueue")
    job = Job.objects.get()
    assert job.state == "done" and not (tmp_path / "unused").exists(), job.error
    Job.objects.filter(pk=job.pk).update(started_by=user)
    call_command("analyze_study", "analyzed", "--out", str(tmp_path / "command"))
    client.force_login(user)
    assert set(job.result) == {p.name for p in (tmp_path / "command").iterdir()}
    for name in ("table1.csv", "mannwhitney.csv"):
        download = client.get(job.result[name])
        assert download["Content-Disposition"] == f'attachment; filename="{name}"'
        assert b"".join(download.streaming_content) == (tmp_path / "command" / name).read_bytes()
