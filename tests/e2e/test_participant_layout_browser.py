"""What a participant sees in a real Chromium: a question with a confidence rating fits one screen at
1280x800 (Next included) and stays usable at 390 px; a control-arm participant sees the image alone at
both widths; no request of any page fails (the favicon included).

Set E2E_SCREENSHOTS=<folder> to keep screenshots of the intro and a question at 1280x800 and 390x844 (and of
a control-arm question at both)."""
import os
from pathlib import Path

import pytest

from study.building.participant_texts import CONTROL_INTROS
from study.models.study import CONTROL
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def navigate(page, action) -> None:
    with page.expect_navigation():
        action()


def shoot(page, name: str, size: dict) -> None:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}-{size['width']}x{size['height']}.png"))


def start(page, live_server, size: dict) -> None:
    """Consent and read the intro of a study with a 5-point confidence rating; on its first question."""
    study = make_study(n_correct=2, n_incorrect=1, confidence_rating=5)
    page.set_viewport_size(size)
    page.goto(f"{live_server.url}/s/{study.slug}/")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    shoot(page, "intro", size)
    navigate(page, page.get_by_role("button", name="Start the questions").click)


def inside_viewport(page, locator, size: dict) -> bool:
    box = locator.bounding_box()
    return (box is not None and box["x"] >= 0 and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"] and box["y"] + box["height"] <= size["height"])


def test_a_question_with_a_confidence_rating_fits_one_screen_at_1280x800(page, live_server):
    start(page, live_server, DESKTOP)
    for number in range(1, 4):
        assert page.locator(".progress").inner_text().startswith(f"Question {number} of 3")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        shoot(page, f"question-{number}", DESKTOP)
        next_button = page.get_by_role("button", name="Next")
        for part in [*page.locator("figure img").all(), page.locator('input[name="option"]').last,
                     page.locator('fieldset.confidence input[name="confidence"]').last, next_button]:
            assert inside_viewport(page, part, DESKTOP)
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
        page.locator('input[name="option"]').first.check()
        page.locator('fieldset.confidence input[value="3"]').check()
        navigate(page, next_button.click)
    assert "Your completion code is" in page.content()


def test_a_question_with_a_confidence_rating_is_usable_at_390px(page, live_server):
    start(page, live_server, PHONE)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    shoot(page, "question-1", PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    images = page.locator("figure img").all()
    assert len(images) == 2 and all(inside_viewport(page, image, PHONE) for image in images)
    page.locator('input[name="option"]').first.check()
    page.locator('fieldset.confidence input[value="3"]').check()
    navigate(page, page.get_by_role("button", name="Next").click)
    assert page.locator(".progress").inner_text().startswith("Question 2 of 3")


def test_no_request_of_any_page_fails_the_favicon_included(page, live_server, caplog):
    """The page's own requests, and the browser's favicon requests (not page events: the server's log)."""
    responses = []
    page.on("response", lambda response: responses.append((response.status, response.url)))
    start(page, live_server, DESKTOP)
    for _ in range(3):
        page.locator('input[name="option"]').first.check()
        page.locator('fieldset.confidence input[value="3"]').check()
        navigate(page, page.get_by_role("button", name="Next").click)
    assert "Your completion code is" in page.content()
    page.goto(f"{live_server.url}/admin/login/")  # a page that does not link the icon: /favicon.ico
    page.wait_for_load_state("networkidle")
    assert [(status, url) for status, url in responses if status >= 400] == []
    assert [r.getMessage() for r in caplog.records if r.name == "django.request"] == []
    assert any(url.endswith("/static/study/favicon.svg") and status == 200 for status, url in responses)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
def test_a_control_arm_participant_sees_the_image_alone_through_the_study(page, live_server, size):
    study = make_study(n_correct=2, n_incorrect=1, techniques=(CONTROL,))
    study.arms.update(intro_html=CONTROL_INTROS["simulation"])
    page.set_viewport_size(size)
    page.goto(f"{live_server.url}/s/{study.slug}/")
    navigate(page, page.get_by_role("button", name="I agree, start the study").click)
    assert "The image only" in page.content() and page.locator("img").count() == 0  # no worked example
    navigate(page, page.get_by_role("button", name="Start the questions").click)
    for number in range(1, 4):
        assert page.locator(".progress").inner_text().startswith(f"Question {number} of 3")
        page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        if number == 1:
            shoot(page, "control-question", size)
        images = page.locator("img").all()
        assert len(images) == 1 and "/media/items/" in images[0].get_attribute("src")
        assert images[0].get_attribute("alt") == "The image" and "explanation" not in page.inner_text("main")
        next_button = page.get_by_role("button", name="Next")
        first_screen = [images[0], page.locator('input[name="option"]').first]
        if size == DESKTOP:  # as in the explained arms: everything in one screen, the question beside the image
            first_screen += [page.locator('input[name="option"]').last, next_button]
            image_box, form_box = images[0].bounding_box(), page.locator("form.question").bounding_box()
            assert 0 <= form_box["x"] - (image_box["x"] + image_box["width"]) <= 64
        assert all(inside_viewport(page, part, size) for part in first_screen)
        assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        page.locator('input[name="option"]').first.check()
        navigate(page, next_button.click)
    assert "Your completion code is" in page.content()
