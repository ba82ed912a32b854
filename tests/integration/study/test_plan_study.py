"""plan_study and the dashboard's planning box: the sample size of analysis.power, from expected
accuracies or a pilot study's answers; bad input is a clear error."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from analysis.power import Arm, sample_size
from tests.factories import make_study
from tests.integration.study.test_analyze_study import answer_all

pytestmark = pytest.mark.django_db


def test_plan_from_expected_accuracies():
    stdout = io.StringIO()
    call_command("plan_study", "--first", "0.4", "--second", "0.6", "--first-sd", "0.1", "--second-sd", "0.1",
                 "--questions", "14", "--simulations", "500", stdout=stdout)
    expected = sample_size(Arm(0.4, 0.1), Arm(0.6, 0.1), 14, n_simulations=500)
    assert f"{expected.n_per_arm} participants per arm give power {expected.power:.3f}" in stdout.getvalue()


def test_plan_from_a_pilot():
    study = make_study("pilot", n_correct=3, n_incorrect=2, n_attention=1)
    for right in ({0, 1, 2}, {0, 1, 2}, {0, 1}):
        answer_all(study, "gradcam", right)
    for right in ({0, 3, 4}, {1, 3}, {3, 4}, {3}):
        answer_all(study, "pv", right)
    stdout = io.StringIO()
    call_command("plan_study", "--pilot", "pilot", "--subset", "model incorrect", "--arms", "gradcam", "pv",
                 "--alternative", "less", "--simulations", "500", stdout=stdout)
    # model wrong (items 3, 4): Grad-CAM 0/2 each; PV 2/2, 1/2, 2/2, 1/2 -> mean 0.75
    text = stdout.getvalue()
    assert "gradcam: accuracy 0.000" in text and "pv: accuracy 0.750" in text and "2 questions each" in text
    with pytest.raises(CommandError, match="name two of the pilot's arms"):
        call_command("plan_study", "--pilot", "pilot", "--arms", "gradcam", "lime")


def test_bad_plans_are_clear_errors():
    with pytest.raises(CommandError, match="give --questions"):
        call_command("plan_study", "--first", "0.3", "--second", "0.5")
    with pytest.raises(CommandError, match="accuracy must lie in"):
        call_command("plan_study", "--first", "1.3", "--second", "0.5", "--questions", "5")
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        call_command("plan_study", "--pilot", "nope")
    with pytest.raises(CommandError, match="even 8 participants per arm"):
        call_command("plan_study", "--first", "0.5", "--second", "0.51", "--questions", "5", "--max-per-arm", "8",
                     "--simulations", "100")


def test_dashboard_box_computes_a_plan(client, django_user_model):
    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    client.force_login(user)
    study = make_study("boxed", owner=user)  # staff see the studies they own (study.access)
    url = reverse("researcher-dashboard", args=[study.slug])
    page = client.get(url).content.decode()
    assert 'name="plan-first"' in page and "participants per arm</strong>" not in page
    query = {"plan-first": "0.3", "plan-second": "0.6", "plan-first_sd": "0.1", "plan-second_sd": "0.1",
             "plan-questions": "14", "plan-power": "0.8", "plan-alpha": "0.05", "plan-alternative": "two-sided"}
    response = client.get(url, query)
    expected = sample_size(Arm(0.3, 0.1), Arm(0.6, 0.1), 14, n_simulations=1000)
    assert response.context["plan"] == expected
    assert f"<strong>{expected.n_per_arm} participants per arm</strong>" in response.content.decode()
    bad = client.get(url, {**query, "plan-first": "2"})
    assert bad.status_code == 200 and bad.context["plan"] is None and "errorlist" in bad.content.decode()
