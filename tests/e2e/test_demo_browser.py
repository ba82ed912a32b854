"""A study built by build_study (the demo's recipe on a tiny real classifier: Grad-CAM and PV arms,
correct and misclassified items) taken by two participants in Chromium, one per arm, from the study
link to the completion code; then analyze_study writes Table 1 from their answers."""

import csv

import numpy as np
import pytest
from django.core.management import call_command

from explainers import load_model
from explainers.pv import train_decoder
from study.models import Participant
from study.models.study import CANT_TELL
from study.building.build import build_study
from study.building.request import BuildRequest
from tests.integration.builder.conftest import FIXTURE, train_tiny, write_csv_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def built_study(tmp_path):
    with np.load(FIXTURE) as data:
        fashion = {key: data[key] for key in data.files}
    spec = train_tiny(tmp_path, fashion, multi_label=False)
    decoder = tmp_path / "decoder.pt"
    train_decoder(
        load_model(spec), list(fashion["x_train"][:64]), decoder, epochs=1, device="cpu", progress=False
    )
    request = BuildRequest(
        slug="demo",
        model=str(spec),
        dataset=write_csv_dataset(tmp_path / "data", fashion),
        arms=("gradcam", "pv"),
        n_correct=3,
        n_incorrect=2,
        seed=0,
        decoder=decoder,
        decoder_min_ssim_margin=-1.0,  # a decoder of one epoch on 64 images: no quality gate here
        decoder_min_psnr_margin=-100.0,
        open=True,
    )
    return build_study(request, progress=False)


def take_study(page, url: str, pick) -> str:
    """Consent, intro, every question answered with `pick(options, prediction)`; returns the token."""
    page.goto(url)
    with page.expect_navigation():
        page.get_by_role("button", name="I agree, start the study").click()
    token = page.url.rstrip("/").rsplit("/", 1)[1]
    participant = Participant.objects.get(token=token)
    assert participant.arm.intro_html[:40] in page.content()
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    with page.expect_navigation():
        page.get_by_role("button", name="Start the questions").click()
    while page.locator("form.question").count():
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        trial = participant.trials.select_related("item").get(
            pk=int(page.locator('input[name="trial"]').input_value())
        )
        page.locator(
            f'input[name="option"][value="{pick(trial.presented_options, trial.item.model_prediction)}"]'
        ).check()
        with page.expect_navigation():
            page.get_by_role("button", name="Next").click()
    assert "Your completion code is" in page.content()
    return token


def test_two_participants_take_the_built_study_and_analyze_study_writes_table1(
    built_study, browser, live_server, tmp_path
):
    url = f"{live_server.url}/s/{built_study.slug}/"
    arms = []
    for pick in (lambda options, prediction: prediction, lambda options, prediction: CANT_TELL):
        context = browser.new_context()
        token = take_study(context.new_page(), url, pick)
        context.close()
        participant = Participant.objects.get(token=token)
        assert participant.status == Participant.Status.COMPLETED and participant.completion_code
        arms.append(participant.arm.technique)
    assert arms == ["gradcam", "pv"]  # round-robin: one participant per arm

    call_command("analyze_study", built_study.slug, "--out", str(tmp_path / "report"))
    with open(tmp_path / "report" / "table1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    means = {(row["technique"], row["subset"]): float(row["mean"]) for row in rows}
    assert {technique for technique, _ in means} == {"gradcam", "pv"}
    # The Grad-CAM participant always named the prediction, the PV participant could never tell.
    assert all(value == 1.0 for (technique, _), value in means.items() if technique == "gradcam")
    assert all(value == 0.0 for (technique, _), value in means.items() if technique == "pv")
