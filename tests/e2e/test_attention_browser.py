"""The attention (BubbleView) design in a real Chromium, at 1280 and 390 px: a Prolific participant clicks
known points of each blurred image (placed from the image's bounding box), sees a bubble there, finds Next
enabled only after the minimum of clicks, and the clicks are stored in the item image's pixels within 1 px;
a touch screen's taps count the same, and so do clicks at other browser zoom levels (a device pixel ratio
with the CSS viewport it leaves). The same pages as an attention block come before a simulation study's
questions.

Set NOTE_SHOTS=<folder> to keep attention-<width>.png (the blurred image with a bubble)."""
import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw, ImageFilter

from study.models import Stimulus, Study, Trial
from study.models.study import CONTROL
from study.survey.designs.attention import BLURRED
from tests.e2e.design_steps import SIZES, add_blocks, begin, check_fits_width, finish, navigate, platform_url, \
    question_number, shoot
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
WIDTH, HEIGHT = 96, 64  # not square: the mapping must keep the aspect ratio
OPTIONS = {"min_clicks": 2, "max_clicks": 5, "radius": 12, "sigma": 5}
POINTS = [(10.5, 52.25), (48.0, 32.0), (90.75, 5.5)]  # image pixels clicked on every image


def png(image: Image.Image) -> ContentFile:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return ContentFile(buffer.getvalue())


def attention_study(live_server, **fields) -> Study:
    """An attention study (2 clicks needed; with `fields`, make_study's, another study with an attention
    block) whose items are WIDTH x HEIGHT drawings, blurred as the build blurs them."""
    fields = {"design": Study.Design.ATTENTION, "techniques": (CONTROL,), "design_options": OPTIONS} | fields
    study = make_study(n_correct=2, n_incorrect=0, completion_redirect_url=platform_url(live_server),
                       **fields)
    for item in study.items.all():
        image = Image.new("RGB", (WIDTH, HEIGHT), "white")
        draw = ImageDraw.Draw(image)
        draw.ellipse((20 + 10 * item.position, 10, 60, 50), fill="navy")
        draw.rectangle((62, 4, 90, 30), fill="orange")
        item.image.save(f"att-{item.position}.png", png(image), save=False)
        item.details |= {"width": WIDTH, "height": HEIGHT, "scale": 1.0}
        item.save()
        for stimulus in Stimulus.objects.filter(item=item, target=BLURRED):
            stimulus.image.save(f"att-{item.position}-blurred.png",
                                png(image.filter(ImageFilter.GaussianBlur(5))))
    add_blocks(study)
    return study


def page_point(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) of the blurred image lies on the page."""
    box = page.locator("img.blurred").bounding_box()
    return box["x"] + x * box["width"] / WIDTH, box["y"] + y * box["height"] / HEIGHT


def click_images(page, width: int, touch: bool, count: int) -> None:
    """Click (or tap) POINTS on the next `count` images; Next is disabled until the second click."""
    for _ in range(count):
        number, _ = question_number(page)
        check_fits_width(page, width)
        box = page.locator("img.blurred").bounding_box()
        assert box["width"] / box["height"] == pytest.approx(WIDTH / HEIGHT, rel=0.02)
        next_button = page.get_by_role("button", name="Next")
        for n, point in enumerate(POINTS, 1):
            assert next_button.is_disabled() == (n <= 2)
            if touch:
                page.touchscreen.tap(*page_point(page, *point))
            else:
                page.mouse.click(*page_point(page, *point))
            assert page.locator("[data-clicks]").inner_text() == str(n)
        assert page.locator("img.sharp").evaluate("i => getComputedStyle(i).clipPath").startswith("circle(")
        if number == 1 and not touch:
            shoot(page, "attention", width)
        navigate(page, next_button.click)


def check_stored(trials) -> None:
    for trial in trials:
        assert trial.details["width"] == WIDTH and trial.details["height"] == HEIGHT
        clicks = trial.details["clicks"]
        assert len(clicks) == len(POINTS) and trial.chosen_option == "(clicks)" and trial.correct_guess is None
        for (x, y, t_ms), (px, py) in zip(clicks, POINTS):
            assert abs(x - px) <= 1 and abs(y - py) <= 1, (clicks, POINTS)
        times = [t for _, _, t in clicks]
        assert times == sorted(times) and times[0] >= 0


@pytest.mark.parametrize("width", [1280, 390])
def test_clicks_at_known_image_points_are_stored_in_image_pixels(new_page, live_server, width):
    study = attention_study(live_server)
    page = new_page(viewport=SIZES[width])
    participant = begin(page, live_server, study, "pid-a")
    click_images(page, width, touch=False, count=2)
    finish(page, live_server, participant)
    check_stored(participant.trials.all())


def test_taps_on_a_touch_screen_count_as_clicks(new_page, live_server):
    study = attention_study(live_server)
    page = new_page(viewport=SIZES[390], has_touch=True, is_mobile=True)
    participant = begin(page, live_server, study, "pid-t")
    click_images(page, 390, touch=True, count=2)
    finish(page, live_server, participant)
    check_stored(participant.trials.all())


@pytest.mark.parametrize("zoom", [0.5, 1.5, 2.0])
def test_clicks_are_stored_in_image_pixels_at_other_browser_zoom_levels(new_page, live_server, zoom):
    """A 1280 x 900 window zoomed in or out: the CSS viewport shrinks or grows by the zoom, and each CSS pixel
    is `zoom` device pixels."""
    study = attention_study(live_server)
    width = round(1280 / zoom)
    page = new_page(viewport={"width": width, "height": round(900 / zoom)}, device_scale_factor=zoom)
    participant = begin(page, live_server, study, f"pid-z{zoom}")
    assert page.evaluate("window.devicePixelRatio") == zoom
    click_images(page, width, touch=False, count=2)
    finish(page, live_server, participant)
    check_stored(participant.trials.all())


@pytest.mark.parametrize("width", [1280, 390])
def test_an_attention_block_comes_before_a_simulation_studys_questions(new_page, live_server, width):
    study = attention_study(live_server, design=Study.Design.SIMULATION, techniques=("gradcam",),
                            design_options=None, attention_block=OPTIONS)
    page = new_page(viewport=SIZES[width])
    participant = begin(page, live_server, study, "pid-b")
    assert question_number(page) == (1, 4)
    click_images(page, width, touch=False, count=2)
    for number in (3, 4):  # the questions, with the explanation beside the image
        assert question_number(page) == (number, 4)
        assert page.get_by_alt_text("The explanation").is_visible()
        assert not page.locator(".bubble-view").count()
        page.locator('input[name="option"]').first.check()
        navigate(page, page.get_by_role("button", name="Next").click)
    finish(page, live_server, participant)
    check_stored(participant.trials.filter(block=Trial.Block.ATTENTION))
    assert participant.trials.filter(block=Trial.Block.QUESTIONS, correct_guess__isnull=False).count() == 2
