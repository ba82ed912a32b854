"""Steps of a Prolific participant through a study of any design in a real Chromium, shared by the design
browser tests: the study link, consent and intro, the questionnaire blocks, completion with the redirect
to the platform, layout checks and screenshots.

Set NOTE_SHOTS=<folder> to keep a screenshot of each trial type (<name>-<width>.png)."""
import os
import re
from pathlib import Path

from study.models import Participant, Study
from study.survey.questionnaire import create_blocks, parse_questionnaire
from tests.integration.questionnaire.helpers import DEFINITION

SIZES = {1280: {"width": 1280, "height": 900}, 390: {"width": 390, "height": 844}}
PLATFORM_PATH = "/prolific/submissions/complete"  # 404s there: only the address matters


def platform_url(live_server) -> str:
    """The completion URL on another origin than the study's (the same server, by its other name)."""
    other = live_server.url.replace("localhost", "127.0.0.1")
    assert other != live_server.url
    return other + PLATFORM_PATH


def add_blocks(study: Study) -> None:
    """A demographics block before the questions and a Likert, multiple choice and text block after."""
    create_blocks(study, parse_questionnaire(DEFINITION))


def navigate(page, action) -> None:
    with page.expect_navigation():
        action()


def shoot(page, name: str, width: int) -> None:
    """The first screen, into $NOTE_SHOTS/<name>-<width>.png when NOTE_SHOTS is set."""
    folder = os.environ.get("NOTE_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"))


def begin(page, live_server, study: Study, pid: str) -> Participant:
    """Come from Prolific, consent, read the intro and answer the block before the questions; the
    participant, on their first question."""
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID={pid}&STUDY_ID=st-1&SESSION_ID=se-{pid}")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    navigate(page, page.get_by_role("button", name="Start the questions").click)
    assert page.get_by_role("heading", name="About you").is_visible()
    page.get_by_label("How old are you (in years)?").fill("31")
    page.get_by_label("Prefer not to say").check()
    navigate(page, page.get_by_role("button", name="Continue").click)
    return Participant.objects.get(external_id=f"prolific:{pid}")


def finish(page, live_server, participant: Participant) -> None:
    """Answer the block after the questions; the completion page forwards to the platform with the code."""
    assert page.get_by_role("heading", name="Your view").is_visible()
    page.locator("fieldset.q-likert").get_by_label("4").check()
    page.get_by_label("Copilot").check()
    page.get_by_label("Anything else?").fill("Fine.")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(re.escape(platform_url(live_server))))
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert page.url == f"{platform_url(live_server)}?cc={participant.completion_code}"


def question_number(page) -> tuple[int, int]:
    """(number, total) of "Question n of N"."""
    words = page.locator(".progress").inner_text().split()
    return int(words[1]), int(words[3])


def check_fits_width(page, width: int) -> None:
    """No sideways scrolling, and every image loaded and inside the page's width."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for image in page.locator("main img").all():
        box = image.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["width"] > 0, box
