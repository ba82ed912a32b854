"""The control arm (`none`): built beside the explainer arms with no explanation, its participants see the
image alone under the same options, and exports and the analysis carry it as an arm of its own."""

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

import explainers
from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.participant_texts import CONTROL_INTROS
from study.building.request import BuildError, BuildRequest
from study.models import Participant, Study, Trial
from study.models.study import CONTROL
from study.research.export import participants_dataframe, trials_dataframe
from tests.integration.study.participant_helpers import consent, run_to_completion

pytestmark = pytest.mark.django_db


@pytest.fixture
def control_study(tiny_spec, csv_dataset, isolated_media) -> Study:
    """Grad-CAM and control arms (in that order: round-robin alternates them) and 3 + 2 items, built and
    opened by the command."""
    call_command("build_study", "s1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                 "--arms", f"gradcam,{CONTROL}", "--n-correct", "3", "--n-incorrect", "2", "--seed", "3",
                 "--open", verbosity=0)
    return Study.objects.get(slug="s1")


@pytest.fixture
def researcher_client(django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("res", password="pw-Secret-123"))
    return client


def test_the_control_arm_is_not_an_explainer_method():
    assert CONTROL not in explainers.METHODS
    with pytest.raises(explainers.ExplainError):
        explainers.label(CONTROL)


def test_the_builder_page_offers_the_control_arm_beside_the_methods():
    choices = dict(StudyBuilderForm().fields["arms"].choices)
    assert choices[CONTROL] == "No explanation (control)" and set(explainers.METHODS) < set(choices)
    assert StudyBuilderForm().fields["arms"].clean(["gradcam", CONTROL]) == ["gradcam", CONTROL]


def test_the_control_arm_gets_no_stimulus_and_no_example_and_an_honest_intro(tiny_spec, csv_dataset,
                                                                              isolated_media):
    request = BuildRequest(slug="s1", model=str(tiny_spec), dataset=csv_dataset, arms=("gradcam", CONTROL),
                           n_correct=3, n_incorrect=2, seed=3, attention_checks=1)
    study = build_study(request, progress=False)
    gradcam, control = study.arms.order_by("position")
    assert (control.name, control.technique, control.is_control) == (CONTROL, CONTROL, True)
    assert not control.stimuli.exists() and not control.example_image
    assert control.intro_html == CONTROL_INTROS["simulation"] and "image only" in control.intro_html
    assert "explanation of the model's decision" in control.intro_html  # said to be absent
    assert gradcam.stimuli.count() == study.items.count() == 6 and gradcam.example_image
    assert set(study.provenance["methods"]) == {"gradcam"}
    assert "with an explanation of the classifier's decision, or without one" in study.consent_text
    assert "You will see 6 images" in study.consent_text


def test_a_study_without_a_control_arm_keeps_its_consent_text(tiny_spec, csv_dataset, isolated_media):
    request = BuildRequest(slug="s1", model=str(tiny_spec), dataset=csv_dataset, arms=("gradcam",),
                           n_correct=1, n_incorrect=1)
    consent_text = build_study(request, progress=False).consent_text
    assert consent_text.startswith("<p>You will see 2 images, each with an explanation of an image "
                                   "classifier's decision, and guess what the classifier predicted.")


def test_an_unknown_arm_is_still_refused_and_the_error_names_the_control(tiny_spec, csv_dataset):
    with pytest.raises(BuildError, match=f"'{CONTROL}' is the control arm"):
        build_study(BuildRequest(slug="s1", model=str(tiny_spec), dataset=csv_dataset,
                                 arms=("gradcam", "nothing")), progress=False)
    with pytest.raises(CommandError, match="unknown arm technique"):
        call_command("build_study", "s1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                     "--arms", "Grad-CAM,None", verbosity=0)
    assert not Study.objects.exists()


def test_control_participants_see_the_image_alone_under_the_same_options(control_study):
    treated_client, control_client = Client(), Client()
    treated, control = consent(treated_client, "s1"), consent(control_client, "s1")
    assert (treated.arm.technique, control.arm.technique) == ("gradcam", CONTROL)
    intro = control_client.get(f"/p/{control.token}/").content.decode()
    assert "The image only" in intro and 'class="example"' not in intro
    assert "explanation on the right" not in intro
    for participant, client in ((treated, treated_client), (control, control_client)):
        assert client.post(f"/p/{participant.token}/intro/").status_code == 302
        response = client.get(f"/p/{participant.token}/")
        page, html = response.context["page"], response.content.decode()
        assert page.trial.item.image.url in html
        if participant.arm.is_control:
            assert page.stimulus is None and html.count("<img") == 1
            assert "The explanation" not in html and "/media/stimuli/" not in html
        else:
            assert page.stimulus.image.url in html and "The explanation" in html
    for trial in Trial.objects.filter(participant__in=(treated, control)).select_related("item"):
        assert sorted(trial.presented_options) == sorted(trial.item.options)
    # the same items, hence the same option sets, in both arms
    items = [sorted(p.trials.values_list("item", flat=True)) for p in (treated, control)]
    assert items[0] == items[1]


def test_the_control_arm_can_be_previewed_from_the_dashboard_and_answered_to_the_end(control_study,
                                                                                    researcher_client):
    control = control_study.arms.get(technique=CONTROL)
    response = researcher_client.post(reverse("researcher-preview", args=["s1"]), {"arm": control.pk})
    assert response.status_code == 302
    participant = Participant.objects.get(is_preview=True)
    assert participant.arm == control
    run_to_completion(researcher_client, participant)
    participant.refresh_from_db()
    assert participant.status == "completed"
    assert participant.trials.filter(answered_at__isnull=False).count() == 5


def test_exports_the_dashboard_and_the_analysis_carry_the_control_arm(control_study, researcher_client,
                                                                      tmp_path):
    for _ in range(6):  # round-robin: three Grad-CAM and three control participants
        client = Client()
        participant = consent(client, "s1")
        run_to_completion(client, participant)
        assert "Your completion code is" in client.get(f"/p/{participant.token}/").content.decode()
    trials, participants = trials_dataframe(control_study), participants_dataframe(control_study)
    assert set(trials["arm"]) == set(trials["technique"]) == {"gradcam", CONTROL}
    assert trials.groupby("arm").size().to_dict() == {"gradcam": 15, CONTROL: 15}
    assert participants.groupby("arm").size().to_dict() == {"gradcam": 3, CONTROL: 3}
    csv_response = researcher_client.get(reverse("researcher-trials-csv", args=["s1"]))
    csv_text = b"".join(csv_response.streaming_content)
    assert csv_text.decode().count(f",{CONTROL},{CONTROL},") == 15
    summary = researcher_client.get(reverse("researcher-dashboard", args=["s1"])).context["summary"]
    assert [(arm.technique, arm.completed) for arm in summary.arms] == [("gradcam", 3), (CONTROL, 3)]

    out = tmp_path / "analysis"
    call_command("analyze_study", "s1", "--out", str(out))
    table = pd.read_csv(out / "table1.csv")
    assert set(table["arm"]) == {"gradcam", CONTROL}
    assert set(table.loc[table["arm"] == CONTROL, "technique"]) == {CONTROL}
    tests = pd.read_csv(out / "mannwhitney.csv")
    assert set(zip(tests["first"], tests["second"], tests["alternative"])) == {(CONTROL, "gradcam", "less")}
    assert f"| {CONTROL} | {CONTROL} | 3 |" in (out / "table1.md").read_text()
