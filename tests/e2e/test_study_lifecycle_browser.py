"""A study's whole life in a real Chromium: a researcher logs in, uploads a small labelled zip, builds a
two-arm study with a confidence rating, a Likert block after the questions and two attention checks,
previews it, opens it; two Prolific participants (a desktop and a phone at 390x844) answer and land on
the completion URL with their code; the first comes back and has already taken part; the exports carry
the IDs, codes, confidence ratings and questionnaire answers and not the preview; the dashboard counts 2
completed; the analysis page shows Table 1 and its two histograms. Jobs run in Celery's eager mode.
Screenshots go to $SCREENSHOTS_DIR (default: the test's temporary folder)."""
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from study.models import Participant, Study
from tests.e2e.test_recruitment_browser import DESKTOP, PHONE
from tests.integration.builder.conftest import FIXTURE, train_tiny, write_csv_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("eager_jobs")]

QUESTIONNAIRE = {"blocks": [{"placement": "after", "title": "Your view", "questions": [
    {"key": "trust", "kind": "likert", "text": "I trusted the explanations.", "scale": 5,
     "anchors": ["Strongly disagree", "Strongly agree"], "required": True}]}]}
N_ITEMS = 6  # 2 the model got right, 2 wrong, 2 attention checks


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def navigate(page, action) -> None:
    with page.expect_navigation():
        action()


def upload_zip(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A tiny trained SmallCNN's weights, a 40-image labelled zip and the class names file."""
    import numpy as np

    with np.load(FIXTURE) as data:
        fashion = {key: data[key] for key in data.files}
    spec = train_tiny(tmp_path, fashion, multi_label=False)
    dataset = write_csv_dataset(tmp_path / "data", fashion, n=40)
    archive = tmp_path / "fashion.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(dataset.iterdir()):
            zf.write(path, path.name)
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join(str(n) for n in fashion["class_names"]))
    return spec.parent / "model.pt", archive, classes


def answer_study(page, shots: Path | None = None, name: str = "") -> list[int]:
    """From the intro page on: every question with its first option and a confidence rating, then the
    Likert block; returns the ratings given. On a phone, checks the first question's options are in the
    first screen."""
    navigate(page, page.get_by_role("button", name="Start the questions").click)
    ratings = []
    while page.locator("form.question").count():
        if not ratings:
            if shots:
                page.screenshot(path=shots / f"{name}-question.png")  # the first screen only
            height = page.viewport_size["height"]
            assert page.evaluate("window.scrollY") == 0
            labels = page.locator("form.question fieldset:not(.confidence) label")
            assert labels.count() >= 2
            for i in range(labels.count()):
                box = labels.nth(i).bounding_box()
                assert box["height"] > 0 and 0 <= box["y"] and box["y"] + box["height"] <= height, (name, box)
        rating = len(ratings) % 5 + 1
        page.locator('input[name="option"]').first.check()
        page.locator(f'fieldset.confidence input[value="{rating}"]').check()
        ratings.append(rating)
        navigate(page, page.get_by_role("button", name="Next").click)
    assert page.get_by_role("heading", name="Your view").is_visible()
    page.locator("fieldset.q-likert").get_by_label("4").check()
    navigate(page, page.get_by_role("button", name="Continue").click)
    return ratings


def csv_frame(page, url: str):
    import pandas as pd

    response = page.context.request.get(url)
    assert response.ok, (url, response.status)
    return pd.read_csv(io.StringIO(response.text()), dtype=str, keep_default_na=False)


def test_a_study_from_build_to_analysis(new_page, live_server, django_user_model,
                                        tmp_path, shots):
    checkpoint, archive, classes = upload_zip(tmp_path)
    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    base = live_server.url

    # The researcher builds the study.
    researcher = new_page(**DESKTOP)
    researcher.goto(f"{base}/accounts/login/?next=/r/")
    researcher.fill("#id_username", "res")
    researcher.fill("#id_password", "pw-Secret-123")
    navigate(researcher, researcher.locator("button[type=submit], input[type=submit]").first.click)
    researcher.goto(f"{base}/r/build/")
    researcher.fill("#id_slug", "life")
    researcher.fill("#id_title", "A whole study")
    researcher.set_input_files("#id_dataset", str(archive))
    researcher.select_option("#id_model", "small_cnn")
    researcher.set_input_files("#id_checkpoint", str(checkpoint))
    researcher.set_input_files("#id_class_names", str(classes))
    researcher.fill("#id_input_size", "32")
    researcher.uncheck("input[name=arms][value=pv]")
    researcher.check("input[name=arms][value=gradient]")
    researcher.fill("#id_n_correct", "2")
    researcher.fill("#id_n_incorrect", "2")
    researcher.fill("#id_attention_checks", "2")
    researcher.fill("#id_attention_positions", "2,5")
    researcher.fill("#id_confidence_rating", "5")
    researcher.fill("#id_questionnaire", json.dumps(QUESTIONNAIRE))
    researcher.screenshot(path=shots / "builder.png", full_page=True)
    researcher.click("#study-build button[type=submit]")
    researcher.wait_for_url(f"{base}/r/jobs/*/", timeout=120_000)
    assert researcher.inner_text("#job-state") == "done"
    navigate(researcher, researcher.locator("a[href='/r/studies/life/']").first.click)
    study = Study.objects.get(slug="life")
    assert study.items.count() == N_ITEMS and study.confidence_rating == 5
    assert sorted(study.items.filter(is_attention_check=True).values_list("position", flat=True)) == [1, 4]  # 0-based

    # Settings: open, with a completion redirect on this server (a 404 there: only the address matters).
    done = f"{base}/done/?x=1"
    researcher.select_option("#id_status", "open")
    researcher.fill("#id_completion_redirect_url", done)
    navigate(researcher, researcher.locator("#study-settings button[type=submit]").click)
    assert researcher.url == f"{base}/r/studies/life/"
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN and study.completion_redirect_url == done

    # Preview in the gradient arm, to the end: it redirects nowhere and counts nowhere.
    researcher.select_option("section.preview select[name=arm]", label="gradient")
    navigate(researcher, researcher.get_by_role("button", name="Preview").click)
    answer_study(researcher, shots, "preview")
    assert researcher.url.startswith(f"{base}/p/")
    assert "Your completion code is" in researcher.content()
    preview = Participant.objects.get(is_preview=True)
    assert preview.status == Participant.Status.COMPLETED and preview.completion_code

    # Two participants from Prolific, on a desktop and on a phone.
    codes, ratings = {}, {}
    for pid, options, name in [("pid-one", DESKTOP, "desktop"), ("pid-two", PHONE, "phone")]:
        page = new_page(**options)
        page.goto(f"{base}/s/life/?PROLIFIC_PID={pid}&STUDY_ID=st-1&SESSION_ID=se-{pid}")
        navigate(page, page.get_by_role("button", name="I agree, start the study").click)
        ratings[pid] = answer_study(page, shots, name)
        participant = Participant.objects.get(external_id=f"prolific:{pid}")
        assert participant.status == Participant.Status.COMPLETED and not participant.is_preview
        codes[pid] = participant.completion_code
        page.wait_for_url(f"{done}&cc={participant.completion_code}")  # forwarded by the completion page
    assert len(ratings["pid-one"]) == N_ITEMS and codes["pid-one"] != codes["pid-two"]
    assert set(Participant.objects.filter(is_preview=False).values_list("arm__name", flat=True)) == {
        "gradcam", "gradient"}

    again = new_page(**DESKTOP)
    again.goto(f"{base}/s/life/?PROLIFIC_PID=pid-one&STUDY_ID=st-1&SESSION_ID=se-again")
    assert "already taken part" in again.content()
    assert again.get_by_role("button", name="I agree, start the study").count() == 0

    # The dashboard counts the two, not the preview; the exports hold their IDs, codes and answers.
    researcher.goto(f"{base}/r/studies/life/")
    total = researcher.locator("table.dashboard tfoot td").all_inner_texts()
    assert total[1:3] == ["2", "2"]  # started, completed
    links = {name: researcher.locator(f"a[href$='/{name}']").get_attribute("href")
             for name in ("trials.csv", "participants.csv", "questionnaire.csv")}
    participants = csv_frame(researcher, base + links["participants.csv"])
    assert sorted(participants["PROLIFIC_PID"]) == ["pid-one", "pid-two"]
    assert sorted(participants["SESSION_ID"]) == ["se-pid-one", "se-pid-two"]
    assert set(participants["STUDY_ID"]) == {"st-1"}
    assert dict(zip(participants["PROLIFIC_PID"], participants["completion_code"])) == codes
    assert preview.completion_code not in participants["completion_code"].tolist()
    trials = csv_frame(researcher, base + links["trials.csv"])
    assert len(trials) == 2 * N_ITEMS and set(trials["participant"]) == set(participants["participant"])
    assert str(preview.pk) not in set(trials["participant"])
    assert (trials["is_attention_check"] == "True").sum() == 4
    for pid in codes:
        rows = trials[trials["PROLIFIC_PID"] == pid]
        assert set(rows["completion_code"]) == {codes[pid]}
        assert sorted(rows["confidence"].astype(int)) == sorted(ratings[pid])
    questionnaire = csv_frame(researcher, base + links["questionnaire.csv"])
    assert sorted(questionnaire["participant"]) == sorted(participants["participant"])
    assert set(questionnaire["question"]) == {"trust"} and set(questionnaire["value"]) == {"4"}

    # The analysis, run as a job: Table 1 and two histograms that load.
    navigate(researcher, researcher.get_by_role("link", name="analysis", exact=True).click)
    researcher.click("#analysis-start button[type=submit]")
    researcher.wait_for_url(f"{base}/r/jobs/*/", timeout=120_000)
    assert researcher.inner_text("#job-state") == "done"
    researcher.goto(f"{base}/r/studies/life/analysis/")
    assert "Table 1" in researcher.inner_text("body")
    # gradcam vs gradient is no paper pair: its tests are two-sided, and the heading says so
    assert "two-sided" in researcher.locator("h2", has_text="Mann-Whitney").inner_text()
    figures = researcher.locator("img.figure")
    assert figures.count() == 2
    for i in range(2):
        assert figures.nth(i).evaluate("i => i.complete && i.naturalWidth > 0")
    researcher.screenshot(path=shots / "analysis.png", full_page=True)
