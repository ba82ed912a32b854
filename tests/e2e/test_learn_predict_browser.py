"""The learn_predict design in a real Chromium, at 1280 and 390 px: two Prolific participants, one in an
explained arm and one in the control arm, go through consent, intro, a questionnaire block, two rounds of
learning (the decision, with its explanation or alone; Next) and predicting (the image alone; an option and a
confidence rating), with feedback after each prediction, and a block after, and are forwarded to the
platform with their code; the trials export holds, row by row, the round and phase each page said, "(seen)"
with no verdict for a training page and the option chosen, scored, for a test page.

Set NOTE_SHOTS=<folder> to keep learn-predict-{train,test}-{explained,control}-<width>.png."""
import json
import re

import pytest

from study.models.study import CONTROL
from study.research.export import trial_columns, trials_csv, trials_rows
from study.survey.designs.learn_predict import SEEN
from tests.e2e.design_steps import (SIZES, add_blocks, begin, check_fits_width, finish, navigate,
                                    platform_url, question_number, shoot)
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPTIONS = {"rounds": 2, "train_per_round": 2, "test_per_round": 3, "error_share": 0.5, "feedback": True}
HEADER = re.compile(r"Round (\d) of 2 — (learning|predicting)")


def answer_questions(page, width: int, arm: str) -> dict[str, dict]:
    """Go through every page: Next on a training page; on the n-th test page option (n - 1) % 3 (by its key
    on the first, by a click on the others) and confidence n % 3 + 1. What each page said and was answered,
    and the feedback the page after a test page gave on it, by the item's image."""
    seen, previous = {}, None
    number, total = question_number(page)
    tests = 0
    while True:
        check_fits_width(page, width)
        header = HEADER.fullmatch(page.locator("h2.round").inner_text())
        assert header, page.locator("h2.round").inner_text()
        feedback = page.locator("p.feedback")
        if previous is not None:  # the page after a test page says whether it was right
            previous["feedback"] = feedback.inner_text()
        else:
            assert feedback.count() == 0
        images = page.locator("main img")
        item = images.first.get_attribute("src")
        name = "control" if arm == CONTROL else "explained"
        record = {"round": int(header[1]), "phase": "train" if header[2] == "learning" else "test"}
        if record["phase"] == "train":
            assert images.count() == (1 if arm == CONTROL else 2)
            decision = page.locator("p.prediction")
            assert decision.inner_text().startswith("The model's decision: ")
            record |= {"option": SEEN, "decision": decision.locator("strong").inner_text()}
            assert page.locator('input[type="radio"]').count() == 0
            if number == 1:
                shoot(page, f"learn-predict-train-{name}", width)
            previous = None
        else:
            tests += 1
            assert images.count() == 1 and page.locator("p.prediction").count() == 0
            assert page.get_by_role("heading", name="What will the model decide?").is_visible()
            options = page.locator('input[name="option"]')
            place = (tests - 1) % 3
            if tests == 1:
                page.keyboard.press(str(place + 1))
                assert options.nth(place).is_checked()
            else:
                options.nth(place).check()
            confidence = tests % 3 + 1
            page.locator(f'fieldset.confidence input[value="{confidence}"]').check()
            if tests == 2:  # with the feedback on the first prediction
                shoot(page, f"learn-predict-test-{name}", width)
            record |= {"option": options.nth(place).get_attribute("value"), "confidence": confidence}
            previous = record
        seen[item] = record
        navigate(page, page.get_by_role("button", name="Next").click)
        if number == total:
            return seen
        number, _ = question_number(page)


@pytest.mark.parametrize("width", [1280, 390])
def test_an_explained_and_a_control_participant_learn_then_predict_and_the_export_says_so(
        new_page, live_server, width):
    study = make_study(design="learn_predict", design_options=OPTIONS, techniques=("gradcam", CONTROL),
                       confidence_rating=3, completion_redirect_url=platform_url(live_server))
    add_blocks(study)
    pages = {}
    for pid in ("pid-a", "pid-b"):
        page = new_page(viewport=SIZES[width])
        participant = begin(page, live_server, study, pid)
        pages[participant.pk] = answer_questions(page, width, participant.arm.technique)
        finish(page, live_server, participant)
    assert sorted(p.arm.technique for p in study.participants.all()) == sorted([CONTROL, "gradcam"])

    columns = trial_columns(study)
    rows = sorted((dict(zip(columns, row)) for row in trials_rows(study)),
                  key=lambda row: (row["participant"], row["presented_position"]))
    assert len(rows) == 2 * 10 and columns[-2:] == ("round", "phase")
    items = {item.name: item for item in study.items.all()}
    for number, row in enumerate(rows):
        item = items[row["item"]]
        page = pages[row["participant"]][item.image.url]
        # Round 1: 2 training, 3 test pages; round 2 the same: the page's header and the export agree.
        assert (row["round"], row["phase"]) == (page["round"], page["phase"]) == (
            1 + number % 10 // 5, "train" if number % 5 < 2 else "test")
        assert row["chosen_option"] == page["option"]
        if page["phase"] == "train":
            assert (row["correct_guess"], row["confidence"], row["presented_options"]) == (None, None, "[]")
            assert page["decision"] == item.model_prediction
            continue
        right = page["option"] == item.model_prediction
        assert row["correct_guess"] is right and row["confidence"] == page["confidence"]
        assert json.loads(row["presented_options"])[-1] == "I just can't tell"
        if number % 10 != 9:  # every test page but the last is followed by a page with feedback
            verdict = "Right:" if right else "Not quite:"
            assert page["feedback"] == f"{verdict} the model decided {item.model_prediction}."
        assert row["PROLIFIC_PID"] in ("pid-a", "pid-b") and row["outcome"] == "completed"
    csv_text = "".join(trials_csv(study))
    assert csv_text.count("\n") == 1 + len(rows) and csv_text.splitlines()[0].endswith(",round,phase")
