"""Recruitment in a real Chromium: two Prolific participants answer and land on the completion URL with
their code; the first comes back and has already taken part; at 390x844 (a phone) the options of a
question are in the first screen and the key hint is hidden. Screenshots of consent, a question and
completion, on a desktop and a phone, go to $SCREENSHOTS_DIR (default: the test's temporary folder)."""
import os
from pathlib import Path

import pytest

from study.models import Participant
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prolific_link(live_server, pid: str) -> str:
    return f"{live_server.url}/s/s1/?PROLIFIC_PID={pid}&STUDY_ID=st-1&SESSION_ID=se-{pid}"


def take_part(page, live_server, pid: str, shots: Path | None = None, name: str = "") -> None:
    """Consent, read the intro, answer every question with the first option (screenshots on the way)."""
    page.goto(prolific_link(live_server, pid))
    if shots:
        page.screenshot(path=shots / f"{name}-consent.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="I agree, start the study").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Start the questions").click()
    # "Question 1 of N": N questions, the last one's page forwarding on at once (not waited for here)
    n_questions = int(page.locator(".progress").inner_text().split()[3])
    for number in range(n_questions):
        if shots and number == 0:
            page.screenshot(path=shots / f"{name}-question.png")  # the first screen only
        page.locator('input[name="option"]').first.check()
        with page.expect_navigation():
            page.get_by_role("button", name="Next").click()


def test_prolific_participants_are_redirected_with_their_code_and_come_back_once(new_page, live_server, shots):
    platform = f"{live_server.url}/prolific/submissions/complete"  # 404s here: only the address matters
    make_study(completion_redirect_url=platform, contact_text="Contact: Dr Ada, ada@example.org",
               ethics_text="Approved by the ethics board, ref. EB-42.")
    for pid, options, name in [("pid-one", DESKTOP, "desktop"), ("pid-two", PHONE, "phone")]:
        page = new_page(**options)
        take_part(page, live_server, pid, shots, name)
        participant = Participant.objects.get(external_id=f"prolific:{pid}")
        assert participant.status == Participant.Status.COMPLETED
        page.wait_for_url(f"{platform}?cc={participant.completion_code}")  # forwarded by the completion page
        page.goto(f"{live_server.url}/p/{participant.token}/")
        assert participant.completion_code in page.locator(".completion-code").inner_text()
        page.screenshot(path=shots / f"{name}-completion.png", full_page=True)

    again = new_page(**DESKTOP)
    again.goto(prolific_link(live_server, "pid-one"))
    assert "already taken part" in again.content()
    assert again.get_by_role("button", name="I agree, start the study").count() == 0
    assert Participant.objects.count() == 2


def test_on_a_phone_the_options_are_in_the_first_screen_and_the_key_hint_only_with_a_mouse(
        new_page, live_server):
    make_study()
    for options, hint_shown in [(PHONE, False), (DESKTOP, True)]:
        page = new_page(**options)
        page.goto(prolific_link(live_server, f"pid-{hint_shown}"))
        with page.expect_navigation():
            page.get_by_role("button", name="I agree, start the study").click()
        with page.expect_navigation():
            page.get_by_role("button", name="Start the questions").click()
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        assert page.evaluate("window.scrollY") == 0
        height = options["viewport"]["height"]
        labels = page.locator("form.question label")
        assert labels.count() == 5
        for i in range(labels.count()):
            box = labels.nth(i).bounding_box()
            assert box["height"] > 0 and box["y"] >= 0 and box["y"] + box["height"] <= height, (options, box)
        for image in page.locator(".side-by-side img").all():
            assert image.bounding_box()["width"] > 100  # scaled down, still large enough to see
        assert page.locator("form.question .hint").is_visible() is hint_shown
        if not hint_shown:  # a phone with a keyboard attached: the first key press shows the hint
            page.keyboard.press("2")
            assert page.locator("form.question .hint").is_visible()
            assert page.locator('input[name="option"][data-key="2"]').is_checked()
