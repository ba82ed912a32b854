"""A participant's whole study in a real Chromium: consent, intro, every question, a refresh and the
back button in the middle, keys 1-5, completion; then the export has exactly one answer per question."""
import json

import pytest

from study.models import Participant, RecruitmentRecord
from study.research.export import trials_dataframe
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def question_number(page) -> int:
    return int(page.locator(".progress").inner_text().split()[1])


def navigate(page, action) -> None:
    """Run `action` (a click, a key press, a history step) and wait for the page it leads to."""
    with page.expect_navigation():
        action()


def test_a_participant_completes_the_study_in_a_real_browser(page, live_server):
    platform = f"{live_server.url}/platform/done"  # a page that 404s: only its address matters
    study = make_study(n_correct=3, n_incorrect=2, completion_redirect_url=platform)
    page.goto(f"{live_server.url}/s/{study.slug}/?PROLIFIC_PID=pid-42&STUDY_ID=st-7")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    token = page.url.rstrip("/").rsplit("/", 1)[1]
    assert "This is how" in page.content()
    navigate(page, page.get_by_role("button", name="Start the questions").click)

    chosen_by_key = {}
    for number in range(1, 6):
        assert question_number(page) == number
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        if number == 3:  # a refresh and the back button change nothing: still question 3
            for step in (page.reload, page.go_back, page.go_forward):
                navigate(page, step)
                assert question_number(page) == 3
        trial_id = int(page.locator('input[name="trial"]').input_value())
        if number % 2:
            key = str(number % 4 + 1)
            page.keyboard.press(key)
            chosen_by_key[trial_id] = int(key) - 1
            navigate(page, lambda: page.keyboard.press("Enter"))
        else:
            page.locator('input[name="option"]').first.check()
            navigate(page, page.get_by_role("button", name="Next").click)

    participant = Participant.objects.get(token=token)
    assert participant.status == Participant.Status.COMPLETED
    page.wait_for_url(f"{platform}?cc={participant.completion_code}")  # forwarded by the completion page
    page.goto(f"{live_server.url}/p/{token}/")
    assert "Your completion code is" in page.content()
    assert participant.completion_code in page.locator(".completion-code").inner_text()
    link = page.get_by_role("link", name="Return to the recruitment platform")
    assert link.get_attribute("href") == f"{platform}?cc={participant.completion_code}"
    assert RecruitmentRecord.objects.get(participant=participant).params == {"PROLIFIC_PID": "pid-42",
                                                                             "STUDY_ID": "st-7"}

    trials = trials_dataframe(study)
    assert len(trials) == 5 and trials["item"].is_unique and (trials["participant"] == participant.pk).all()
    assert sorted(trials["presented_position"]) == list(range(5))
    assert (trials["rt_ms"] > 0).all()
    for trial in participant.trials.select_related("item"):
        options = json.loads(trials.set_index("item").loc[trial.item.name, "presented_options"])
        assert options == trial.presented_options and sorted(options) == sorted(trial.item.options)
        if trial.pk in chosen_by_key:
            assert trial.chosen_option == options[chosen_by_key[trial.pk]]
        else:
            assert trial.chosen_option == options[0]
