"""The distinction design in a real Chromium, at 1280 and 390 px: a Prolific participant goes through
consent, intro, a questionnaire block, every question (an attention check among them) and a block after,
and is forwarded to the platform with their code; once with the class names shown, the correct-class
question and confidence ratings, once without names. Every panel is on the page (at 390 px two a row, no
sideways scrolling); the trials export holds, row by row, the panel clicked and the class it explains.

Set NOTE_SHOTS=<folder> to keep distinction-labels-<width>.png and distinction-nolabels-<width>.png."""
import pytest

from study.models import Stimulus, Study
from study.research.export import trial_columns, trials_csv, trials_rows
from tests.e2e.design_steps import SIZES, add_blocks, begin, check_fits_width, finish, navigate, platform_url, \
    question_number, shoot
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

K = 4
LABELLED = {"k": K, "show_labels": True, "ask_correct_class": True}


def check_panels(page, width: int) -> list[str]:
    """The k numbered panels are all visible (at 390 px two a row, each at least 120 px wide, square); the
    src of each panel's image, panel 1 first."""
    check_fits_width(page, width)
    panels = page.locator(".panels .panel")
    assert panels.count() == K and page.locator(".panels .panel-image img").is_visible()
    boxes = [panels.nth(i).locator("img").bounding_box() for i in range(K)]
    for i, box in enumerate(boxes):
        assert panels.nth(i).locator("figcaption b").inner_text() == str(i + 1)
        assert box["width"] >= 120 and abs(box["width"] - box["height"]) < 1, box  # the 32x32 PNGs stay square
    if width == 390:  # panels 1 and 2 in one row, 3 and 4 in the next
        assert boxes[0]["y"] == boxes[1]["y"] < boxes[2]["y"] == boxes[3]["y"]
        assert boxes[0]["x"] == boxes[2]["x"] < boxes[1]["x"] == boxes[3]["x"]
    else:  # the image and every panel in the first screen
        for image in page.locator(".panels img").all():
            box = image.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= SIZES[width]["height"], box
    return [panels.nth(i).locator("img").get_attribute("src") for i in range(K)]


def answer_questions(page, width: int, labelled: bool) -> dict[str, dict]:
    """Answer every question: the n-th with panel (n-1) % k + 1 (by its key on the first question, by a
    click on the others) and, with labels, the class of panel n % k + 1 as the correct one and confidence
    ratings; what was chosen, by the item image's src."""
    chosen = {}
    number, total = question_number(page)
    while True:
        srcs = check_panels(page, width)
        captions = page.locator(".panels .panel figcaption").all_inner_texts()
        names = [caption.split(" ", 1)[1] if labelled else None for caption in captions]
        assert all(caption == str(i + 1) for i, caption in enumerate(captions)) is not labelled
        panel, correct_panel = (number - 1) % K + 1, number % K + 1
        options = page.locator('input[name="option"]')
        if number == 1:
            page.keyboard.press(str(panel))
            shoot(page, f"distinction-{'labels' if labelled else 'nolabels'}", width)
        else:
            options.nth(panel - 1).check()
        assert options.nth(panel - 1).is_checked()
        answer = {"panel": panel, "panel_src": srcs[panel - 1], "name": names[panel - 1]}
        if labelled:
            page.locator('input[name="correct_class"]').nth(correct_panel - 1).check()
            page.locator(f'input[name="confidence"][value="{number % 5 + 1}"]').check()
            page.locator(f'input[name="correct_class_confidence"][value="{(number + 2) % 5 + 1}"]').check()
            answer |= {"correct_name": names[correct_panel - 1], "confidence": number % 5 + 1,
                       "correct_confidence": (number + 2) % 5 + 1}
        chosen[page.locator(".panel-image img").get_attribute("src")] = answer
        navigate(page, page.get_by_role("button", name="Next").click)
        if number == total:
            return chosen
        number, _ = question_number(page)


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("options", [LABELLED, {"k": K}], ids=["labels", "nolabels"])
def test_a_participant_picks_panels_and_the_export_names_their_classes(new_page, live_server, width, options):
    labelled = options.get("show_labels", False)
    study = make_study(design=Study.Design.DISTINCTION, design_options=options, techniques=("gradcam",),
                       n_correct=2, n_incorrect=2, n_attention=1, confidence_rating=5 if labelled else 0,
                       completion_redirect_url=platform_url(live_server))
    add_blocks(study)
    page = new_page(viewport=SIZES[width])
    participant = begin(page, live_server, study, "pid-d")
    clicked = answer_questions(page, width, labelled)
    finish(page, live_server, participant)

    columns = trial_columns(study)
    rows = [dict(zip(columns, row)) for row in trials_rows(study)]
    assert len(rows) == 5 and sum(row["is_attention_check"] for row in rows) == 1
    assert columns[-5:] == ("k", "chosen_panel", "correct_class", "correct_class_right", "correct_class_confidence")
    items = {item.name: item for item in study.items.all()}
    targets = {stimulus.image.url: stimulus.target for stimulus in Stimulus.objects.filter(item__study=study)}
    for row in rows:
        item = items[row["item"]]
        answer = clicked[item.image.url]
        chosen_class = targets[answer["panel_src"]]  # the class the clicked panel's image explains
        assert (row["k"], row["chosen_panel"], row["chosen_option"]) == (K, answer["panel"], chosen_class)
        assert row["correct_guess"] is (chosen_class == item.model_prediction)
        assert row["PROLIFIC_PID"] == "pid-d" and row["SESSION_ID"] == "se-pid-d" and row["STUDY_ID"] == "st-1"
        if labelled:
            assert answer["name"] == chosen_class  # the name under the panel is the class it explains
            right = answer["correct_name"] in item.true_labels if item.true_labels[0] in item.options else None
            assert (row["correct_class"], row["correct_class_right"]) == (answer["correct_name"], right)
            assert (row["confidence"], row["correct_class_confidence"]) == (
                answer["confidence"], answer["correct_confidence"])
        else:
            assert (row["correct_class"], row["correct_class_right"], row["confidence"]) == (None, None, None)
    assert "".join(trials_csv(study)).splitlines()[0].endswith(
        ",k,chosen_panel,correct_class,correct_class_right,correct_class_confidence")
