"""Participants read every arm technique by its name, in plain words: the intro and the question pages of a
study built with any method in the registry never show its raw method key ("lrp", "gradcam++")."""
import re
from html.parser import HTMLParser

import pytest

import explainers
from study.building.participant_texts import RENDERING_NOTES, TECHNIQUES, intro_html
from study.building.rendering import RENDERINGS
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db


class VisibleText(HTMLParser):
    """The text a participant can read or hear: text outside script and style, and alt, title, aria-label
    and placeholder attributes."""

    SPOKEN = {"alt", "title", "aria-label", "placeholder"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        self.parts += [value for name, value in attrs if name in self.SPOKEN and value]

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def shows_key(text: str, key: str) -> bool:
    return re.search(rf"(?<![\w+-]){re.escape(key)}(?![\w+-])", text) is not None


@pytest.mark.parametrize("technique", explainers.METHODS)
def test_the_intro_and_question_pages_name_the_technique_never_its_key(client, technique):
    study = make_study(f"m{explainers.METHODS.index(technique)}", techniques=(technique,))
    arm = study.arms.get()
    arm.intro_html = intro_html(technique, "Trouser")
    arm.save()
    participant = consent(client, study.slug)
    intro = visible_text(client.get(f"/p/{participant.token}/").content.decode())
    title, text = TECHNIQUES[technique]
    assert title in intro and text in intro and "Trouser" in intro
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    question = visible_text(client.get(f"/p/{participant.token}/").content.decode())
    assert "Question 1 of 5" in question
    for page in (intro, question):
        assert not shows_key(page, technique), page


def test_every_method_has_a_name_and_words_and_every_rendering_a_note():
    assert set(TECHNIQUES) == set(explainers.METHODS)
    assert set(RENDERING_NOTES) == set(RENDERINGS)
    for technique, (title, text) in TECHNIQUES.items():
        assert title and len(text.split()) >= 10 and not shows_key(title + " " + text, technique)
    assert RENDERING_NOTES["jet"] in intro_html("lrp", "Cat", rendering="jet")
    assert RENDERING_NOTES["white_mask"] in intro_html("lrp", "Cat")
    assert not any(note in intro_html("pv", "Cat") for note in RENDERING_NOTES.values())
