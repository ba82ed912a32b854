"""The attention (BubbleView) design over HTTP: the page shows the blurred image over the item image, and
an answer's clicks are checked strictly and stored exactly (item-image pixels, ms), or refused with nothing
written."""
import json

import pytest
from django.test import Client

from study.models import Stimulus, Trial
from study.models.study import CONTROL
from study.survey.designs.attention import BLURRED, CLICKS
from tests.factories import make_study
from tests.integration.study.design_helpers import page_of, post
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db
OPTIONS = {"min_clicks": 2, "max_clicks": 4, "radius": 30}


def started(options=OPTIONS):
    make_study("b1", design="attention", design_options=options, techniques=(CONTROL,), n_correct=2,
               n_incorrect=1)
    client = Client()
    participant = consent(client, "b1")
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    return client, participant


def test_the_page_shows_the_blurred_image_and_the_item_image_for_the_bubble():
    client, participant = started()
    page, html = page_of(client, participant)
    blurred = Stimulus.objects.get(item=page.trial.item, arm=participant.arm)
    assert blurred.target == BLURRED and page.stimulus.pk == blurred.pk
    assert f'class="blurred" src="{blurred.image.url}"' in html
    assert f'class="sharp" src="{page.trial.item.image.url}"' in html
    # the factory's images are their own source (scale 1): the radius as given
    assert 'data-radius="30.0"' in html and 'data-min-clicks="2"' in html and "study/attention.js" in html
    assert "Click where you would look" in html and "Keys 1-" not in html


def test_valid_clicks_are_stored_exactly_and_complete_the_study():
    client, participant = started()
    sent = [[[0, 0, 0], [31.9, 12.5, 120]], [[5, 6, 7], [5, 6, 7], [16.04, 31.94, 900], [1, 1, 901]],
            [[10.24, 3, 0], [3, 4, 10]]]
    for clicks in sent:
        page, _ = page_of(client, participant)
        assert post(client, participant, page.trial, clicks=json.dumps(clicks)).status_code == 302
    trials = Trial.objects.filter(participant=participant).order_by("presented_position")
    # rounded to 0.1 px as stored: 16.04 -> 16.0, 31.94 -> 31.9
    stored = sorted((t.details for t in trials), key=lambda details: (len(details["clicks"]), details["clicks"]))
    assert stored == [{"clicks": clicks, "width": 32, "height": 32} for clicks in (
        [[0, 0, 0], [31.9, 12.5, 120]], [[10.2, 3, 0], [3, 4, 10]],
        [[5, 6, 7], [5, 6, 7], [16.0, 31.9, 900], [1, 1, 901]])]
    assert [t.chosen_option for t in trials] == [CLICKS] * 3 and all(t.correct_guess is None for t in trials)
    participant.refresh_from_db()
    assert participant.status == "completed"


@pytest.mark.parametrize("clicks", [
    "[[32, 1, 0], [1, 1, 5]]",  # x = width: outside
    "[[1, -0.5, 0], [1, 1, 5]]",  # y < 0
    "[[1, 1, 0], [1, 32.0, 5]]",  # y = height
    "[[1, 1, 0]]",  # too few
    "[[1, 1, 0], [1, 1, 1], [1, 1, 2], [1, 1, 3], [1, 1, 4]]",  # too many
    "[[1, 1, 10], [1, 1, 5]]",  # decreasing t
    "[[1, 1, -1], [1, 1, 5]]",  # negative t
    "[[1, 1, 0], [1, 1]]",  # a pair
    "[[1, true, 0], [1, 1, 5]]",  # not a number
    '[[1, "2", 0], [1, 1, 5]]',
    "[[1, NaN, 0], [1, 1, 5]]",
    '{"x": 1}',
    "[[1, 1, 0], [1, 1, 5]",  # bad JSON
    "",
])
def test_bad_clicks_are_refused_and_nothing_is_written(clicks):
    client, participant = started()
    page, _ = page_of(client, participant)
    assert post(client, participant, page.trial, clicks=clicks).status_code == 400
    trial = Trial.objects.get(pk=page.trial.pk)
    assert (trial.answered_at, trial.chosen_option, trial.details) == (None, "", {})


def test_fewer_clicks_than_the_minimum_pass_only_once_the_time_limit_ran_out():
    client, participant = started(OPTIONS | {"time_limit_s": 10})
    page, _ = page_of(client, participant)
    assert post(client, participant, page.trial, clicks="[[1, 1, 0]]").status_code == 400
    assert post(client, participant, page.trial, clicks="[[1, 1, 0]]", timed_out="1").status_code == 302
    assert Trial.objects.get(pk=page.trial.pk).details["clicks"] == [[1, 1, 0]]
