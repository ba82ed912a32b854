"""The agreement design in a real Chromium, at 1280 and 390 px: two Prolific participants, one in an
explained arm and one in the control arm, go through consent, intro, a questionnaire block, every question
(an attention check among them) and a block after, and are forwarded to the platform with their code; the
trials export holds, row by row, the point of the scale each clicked and what it means.

Set NOTE_SHOTS=<folder> to keep agreement-explained-<width>.png and agreement-control-<width>.png."""
import pytest

from study.models import Study
from study.models.study import CONTROL
from study.research.export import trial_columns, trials_csv, trials_rows
from study.survey.designs.agreement import HIVE_SCALE
from tests.e2e.design_steps import SIZES, add_blocks, begin, check_fits_width, finish, navigate, platform_url, \
    question_number, shoot
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Worked by hand from HIVE's 4-point scale: the option's place (0 = "Fairly confident that the prediction is
# correct") -> (point, judged correct); the top half says "correct".
POINTS = {0: (4, True), 1: (3, True), 2: (2, False), 3: (1, False)}


def answer_questions(page, width: int, arm: str) -> dict[str, dict]:
    """Answer every question, the n-th with the scale's (n-1) % 4-th option (by its key 1-4 on the first
    question, by a click on the others) and confidence (n % 5) + 1; what was chosen, by the item's name."""
    chosen = {}
    number, total = question_number(page)
    while True:
        check_fits_width(page, width)
        prediction = page.locator("p.prediction")
        assert prediction.is_visible() and prediction.inner_text().startswith("The model predicts: ")
        images = page.locator("main img")
        assert images.count() == (1 if arm == CONTROL else 2)
        assert images.first.get_attribute("alt") == "The image"
        options = page.locator('input[name="option"]')
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == list(HIVE_SCALE)
        place = (number - 1) % 4
        if number == 1:
            page.keyboard.press(str(place + 1))
            assert options.nth(place).is_checked()
            shoot(page, f"agreement-{'control' if arm == CONTROL else 'explained'}", width)
        else:
            page.get_by_label(HIVE_SCALE[place]).check()
        page.locator(f'fieldset.confidence input[value="{number % 5 + 1}"]').check()
        item = page.locator("main img").first.get_attribute("src")
        chosen[item] = {"label": HIVE_SCALE[place], "place": place, "confidence": number % 5 + 1,
                        "prediction": prediction.locator("strong").inner_text()}
        navigate(page, page.get_by_role("button", name="Next").click)
        if number == total:
            return chosen
        number, _ = question_number(page)


@pytest.mark.parametrize("width", [1280, 390])
def test_an_explained_and_a_control_participant_rate_the_prediction_and_the_export_says_so(
        new_page, live_server, width):
    study = make_study(design=Study.Design.AGREEMENT, techniques=("gradcam", CONTROL), n_correct=2,
                       n_incorrect=2, n_attention=1, confidence_rating=5,
                       completion_redirect_url=platform_url(live_server))
    add_blocks(study)
    clicked = {}
    for pid in ("pid-a", "pid-b"):
        page = new_page(viewport=SIZES[width])
        participant = begin(page, live_server, study, pid)
        clicked[participant.pk] = answer_questions(page, width, participant.arm.technique)
        finish(page, live_server, participant)
    assert sorted(p.arm.technique for p in study.participants.all()) == sorted([CONTROL, "gradcam"])

    columns = trial_columns(study)
    rows = [dict(zip(columns, row)) for row in trials_rows(study)]
    assert len(rows) == 2 * 5 and columns[-2:] == ("agreement", "judged_correct")
    items = {item.name: item for item in study.items.all()}
    assert sum(row["is_attention_check"] for row in rows) == 2
    for row in rows:
        item = items[row["item"]]
        answer = clicked[row["participant"]][item.image.url]
        point, judged_correct = POINTS[answer["place"]]
        assert (row["chosen_option"], row["agreement"], row["judged_correct"]) == (
            answer["label"], point, judged_correct)
        assert row["correct_guess"] is (judged_correct == item.model_correct)
        assert (row["confidence"], row["model_prediction"]) == (answer["confidence"], answer["prediction"])
        assert row["presented_options"] == '["' + '", "'.join(HIVE_SCALE) + '"]'
        assert row["PROLIFIC_PID"] in ("pid-a", "pid-b") and row["SESSION_ID"] == f"se-{row['PROLIFIC_PID']}"
        assert row["STUDY_ID"] == "st-1" and row["outcome"] == "completed"
    csv_text = "".join(trials_csv(study))
    assert csv_text.count("\n") == 1 + len(rows) and csv_text.splitlines()[0].endswith(",agreement,judged_correct")
