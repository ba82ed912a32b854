"""The completion redirect in a real Chromium, under the production CSP (form-action 'self'), to ANOTHER
origin: a second local HTTP server stands in for Prolific. The last answer (or the last questionnaire
block) lands on the participant's own completion page, which forwards at once to the platform with the
study's completion code in `cc=`; at 1280 px and at 390 px wide."""
import http.server
import threading

import pytest

from study.models import Participant, Study
from tests.factories import make_study
from tests.integration.questionnaire.helpers import make_questionnaire_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
AFTER_BLOCK = {"blocks": [{"placement": "after", "title": "Your view", "questions": [
    {"key": "trust", "kind": "likert", "text": "I trusted the explanations.", "scale": 5,
     "required": True}]}]}
CODE = "C1ABCDEF"


class PlatformPage(http.server.BaseHTTPRequestHandler):
    """Answers every GET with a small page and remembers the path it was asked for."""

    def do_GET(self):
        self.server.paths.append(self.path)
        body = b"<!doctype html><title>Platform</title><p>Submission received</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def platform():
    """A recruitment platform on 127.0.0.1 at a port of its own: another origin than the live server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PlatformPage)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def complete_url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/submissions/complete"


def navigate(page, action) -> None:
    with page.expect_navigation():
        action()


def start(page, live_server, study: Study, width: str) -> None:
    """Open the study from a Prolific link at `width`, consent and read the intro."""
    page.set_viewport_size(SIZES[width])
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pid-{width}&STUDY_ID=st-1&SESSION_ID=se-1")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    navigate(page, page.get_by_role("button", name="Start the questions").click)


def answer_questions(page, n: int) -> None:
    """Answer n questions with their first option; the last click's navigation is left to the caller."""
    for number in range(1, n + 1):
        assert page.locator(".progress").inner_text().startswith(f"Question {number} of {n}")
        page.locator('input[name="option"]').first.check()
        if number < n:
            navigate(page, page.get_by_role("button", name="Next").click)


def assert_arrived(page, platform, width: str) -> None:
    expected = f"{complete_url(platform)}?cc={CODE}"
    page.wait_for_url(expected)
    assert "Submission received" in page.content()
    assert [path for path in platform.paths if path.startswith("/submissions/")] == [
        f"/submissions/complete?cc={CODE}"]  # once, one cc
    participant = Participant.objects.get(external_id=f"prolific:pid-{width}")
    assert participant.status == Participant.Status.COMPLETED
    assert (participant.outcome, participant.completion_code) == (Participant.Outcome.COMPLETED, CODE)


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_last_answer_forwards_to_another_origin_with_the_study_code(page, live_server, platform, width):
    study = make_study(completion_redirect_url=complete_url(platform), completion_codes="study",
                       completed_code=CODE)
    start(page, live_server, study, width)
    answer_questions(page, 5)
    page.get_by_role("button", name="Next").click()
    assert_arrived(page, platform, width)


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_a_closing_questionnaire_forwards_to_another_origin_with_the_study_code(page, live_server, platform,
                                                                                 width):
    study = make_questionnaire_study(confidence_rating=0, definition=AFTER_BLOCK,
                                     completion_redirect_url=complete_url(platform), completion_codes="study",
                                     completed_code=CODE)
    start(page, live_server, study, width)
    answer_questions(page, 5)
    navigate(page, page.get_by_role("button", name="Next").click)
    assert page.get_by_role("heading", name="Your view").is_visible()
    page.locator("fieldset.q-likert").get_by_label("4").check()
    page.get_by_role("button", name="Continue").click()
    assert_arrived(page, platform, width)
