"""A researcher logs in, uploads a small labelled zip in Chromium, builds a two-arm study with two attention
checks, sees it on its page, and after answers come in runs the analysis and sees Table 1 and the
histograms (jobs run in Celery's eager mode here). Screenshots at desktop and phone width go to
$SCREENSHOT_DIR when set."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from study.models import Study
from tests.e2e.test_study_lifecycle_browser import upload_zip
from tests.integration.study.test_analyze_study import answer_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("eager_jobs")]


def shoot(page, name: str) -> None:
    """Full-page screenshots at 1280 px and 390 px wide, when SCREENSHOT_DIR is set."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if not folder:
        return
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_researcher_builds_a_two_arm_study_and_opens_its_analysis(page, live_server, django_user_model,
                                                                  tmp_path):
    checkpoint, archive, classes = upload_zip(tmp_path)
    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_study"))

    page.goto(f"{live_server.url}/accounts/login/?next=/r/")
    page.fill("#id_username", "res")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/")
    page.click("text=Build a new study")
    page.wait_for_url(f"{live_server.url}/r/build/")
    page.fill("#id_slug", "browser-built")
    page.fill("#id_title", "Built in Chromium")
    page.set_input_files("#id_dataset", str(archive))
    page.select_option("#id_model", "small_cnn")
    page.set_input_files("#id_checkpoint", str(checkpoint))
    page.set_input_files("#id_class_names", str(classes))
    page.fill("#id_input_size", "32")
    page.uncheck("input[name=arms][value=pv]")
    page.check("input[name=arms][value=gradient]")
    page.fill("#id_n_correct", "4")
    page.fill("#id_n_incorrect", "3")
    page.fill("#id_attention_checks", "2")
    shoot(page, "builder")
    page.click("#study-build button[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/jobs/*/", timeout=120_000)
    assert page.inner_text("#job-state") == "done"
    page.click("a[href='/r/studies/browser-built/']")
    page.wait_for_url(f"{live_server.url}/r/studies/browser-built/")
    body = page.inner_text("body")
    assert "Built in Chromium" in body and "gradcam" in body and "gradient" in body
    study = Study.objects.get(slug="browser-built")
    assert study.owner == user and study.items.count() == 9
    assert study.items.filter(is_attention_check=True).count() == 2
    shoot(page, "settings")

    questions = list(study.items.filter(is_attention_check=False).order_by("position"))
    for arm, right in (("gradcam", {0, 1, 2}), ("gradcam", {0}), ("gradient", {1}), ("gradient", set())):
        answer_all(study, arm, {questions[i].position for i in right}, fail_attention=arm == "gradient")
    page.click("text=analysis")
    page.wait_for_url(f"{live_server.url}/r/studies/browser-built/analysis/")
    page.click("#analysis-start button[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/jobs/*/", timeout=120_000)
    assert page.inner_text("#job-state") == "done"
    page.goto(f"{live_server.url}/r/studies/browser-built/analysis/")
    body = page.inner_text("body")
    assert "Table 1" in body and "Mann-Whitney" in body and "Accuracy per question" in body
    for image in page.query_selector_all("img.figure"):
        assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    assert len(page.query_selector_all("img.figure")) == 2
    shoot(page, "analysis")
