"""Questionnaires in a real Chromium: a demographics block with a server-side error, the questions with a
confidence rating (and a back step on a block), a Likert block after; the exports hold every answer.

Set E2E_SCREENSHOTS=<folder> to keep screenshots of the pages at desktop width and at 390 px."""
import os
from pathlib import Path

import pytest

from study.models import Participant
from study.research.export import questionnaire_dataframe, trials_dataframe
from tests.integration.questionnaire.helpers import make_questionnaire_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def navigate(page, action) -> None:
    with page.expect_navigation():
        action()


def shoot(page, name: str) -> None:
    """Screenshots of the current page at both widths, into E2E_SCREENSHOTS when set."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for size_name, size in SIZES.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(Path(folder) / f"{name}-{size_name}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_blocks_questions_with_confidence_and_a_likert_block(page, live_server, width):
    study = make_questionnaire_study(n_correct=2, n_incorrect=1)
    page.set_viewport_size(SIZES[width])
    page.goto(f"{live_server.url}/s/{study.slug}/")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    token = page.url.rstrip("/").rsplit("/", 1)[1]
    navigate(page, page.get_by_role("button", name="Start the questions").click)

    # Demographics: an age out of range comes back with the server's message, the other answer kept.
    assert page.get_by_role("heading", name="About you").is_visible()
    page.get_by_label("How old are you (in years)?").fill("12")
    page.get_by_label("Prefer not to say").check()
    navigate(page, page.get_by_role("button", name="Continue").click)
    assert "greater than or equal to 18" in page.locator(".errorlist").inner_text()
    assert page.get_by_label("Prefer not to say").is_checked()
    if width == "desktop":
        shoot(page, "block-before-error")
    page.get_by_label("How old are you (in years)?").fill("29")
    navigate(page, page.get_by_role("button", name="Continue").click)

    for number in range(1, 4):
        assert page.locator(".progress").inner_text().startswith(f"Question {number} of 3")
        if number == 2:
            navigate(page, page.go_back)  # back to question 1's page: the server shows question 2 again
            assert page.locator(".progress").inner_text().startswith("Question 2")
            # the browser does not carry the previous question's rating over (autocomplete="off")
            assert page.locator("fieldset.confidence input:checked").count() == 0
            if width == "desktop":
                shoot(page, "question-confidence")
        page.locator('input[name="option"]').first.check()
        page.locator(f'fieldset.confidence input[value="{number + 1}"]').check()
        if width == "phone":  # the options and the rating are reachable at 390 px without sideways scrolling
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
        navigate(page, page.get_by_role("button", name="Next").click)

    assert page.get_by_role("heading", name="Your view").is_visible()
    if width == "desktop":
        shoot(page, "block-after")
    page.locator("fieldset.q-likert").get_by_label("4").check()
    page.get_by_label("Copilot").check()
    page.get_by_label("Anything else?").fill("Clear enough.")
    navigate(page, page.get_by_role("button", name="Continue").click)
    assert "Your completion code is" in page.content()

    participant = Participant.objects.get(token=token)
    assert participant.status == Participant.Status.COMPLETED
    answers = questionnaire_dataframe(study).set_index("question")["value"].to_dict()
    assert answers == {"age": "29", "gender": "Prefer not to say", "trust": "4", "tools": '["Copilot"]',
                       "comments": "Clear enough."}
    assert trials_dataframe(study)["confidence"].tolist() == [2, 3, 4]
