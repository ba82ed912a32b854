"""The clicks of an attention (BubbleView) study, or of a study's attention block, in long format: one row
per click (participant, arm, item, item_position, click (0-based), x, y in item-image pixels, t_ms since the
page was shown), answered trials of participants who are not previews, by participant, then presented
position, then click."""
from collections.abc import Iterator

import pandas as pd

from study.models import Study
from study.research.export import CHUNK_SIZE, csv_lines
from study.survey.designs.attention import click_trials

CLICK_COLUMNS = ("participant", "arm", "item", "item_position", "click", "x", "y", "t_ms")


def clicks_rows(study: Study) -> Iterator[tuple]:
    """One tuple per click, in CLICK_COLUMNS order."""
    trials = (click_trials(study).filter(participant__is_preview=False, answered_at__isnull=False)
              .order_by("participant_id", "presented_position")
              .values_list("participant_id", "participant__arm__name", "item__name", "item__position", "details"))
    for participant, arm, item, position, details in trials.iterator(CHUNK_SIZE):
        for number, (x, y, t_ms) in enumerate(details.get("clicks", ())):
            yield participant, arm, item, position, number, x, y, t_ms


def clicks_csv(study: Study) -> Iterator[str]:
    """clicks.csv as text chunks."""
    return csv_lines(CLICK_COLUMNS, clicks_rows(study))


def clicks_dataframe(study: Study) -> pd.DataFrame:
    """clicks.csv as a frame: x, y floats, t_ms an integer."""
    frame = pd.DataFrame.from_records(list(clicks_rows(study)), columns=list(CLICK_COLUMNS))
    return frame.astype({"x": float, "y": float, "t_ms": "int64", "click": "int64"})
