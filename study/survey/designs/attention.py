"""BubbleView (Kim, Bylinskii, Borkin, Gajos, Oliva, Durand, Pfister, ACM TOCHI 2017): the image shown
blurred; each click or tap reveals a circular bubble of the original around that point (the previous one
closes). The clicks approximate where people look. No question and no explanation: only the control arm,
whose stimulus of each item is its blurred image (target BLURRED, made at build time).

The same pages can come as a block before the questions of another design (Study.attention_block: its
options; Trial.block ATTENTION): every arm then has the blurred image of each item that is not an attention
check, and each participant clicks on them all before the first question.

An answer is the click list [[x, y, t_ms], ...] in the item image's pixels (x right, y down, from its
top-left corner; 0 <= x < width) and milliseconds since the page was shown, increasing; stored as
Trial.details {"clicks": [...], "width": W, "height": H} with chosen_option CLICKS and no correct_guess."""
from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from PIL import Image, ImageFilter

from study.models import Item, Study, Trial
from study.survey.designs.base import Answer, Design
from study.survey.errors import BadInput

BLURRED = "blurred"
CLICKS = "(clicks)"
DEFAULT_TASK = "Click where you would look to tell what this image shows."
# option: (default, lowest, highest); time_limit_s also takes 0 (no limit).
BOUNDS = {"sigma": (40, 5, 100), "radius": (40, 5, 150), "min_clicks": (5, 0, 200),
          "max_clicks": (100, 1, 500), "time_limit_s": (0, 5, 600)}
MAX_TASK = 500


def blurred_png(image: Image.Image, display: Image.Image, sigma: float) -> bytes:
    """The `display` image (the item image) blurred with a Gaussian of `sigma` pixels of the source `image`
    (scaled to the display's pixels), as PNG bytes."""
    blurred = display.filter(ImageFilter.GaussianBlur(sigma * display.width / image.width))
    buffer = io.BytesIO()
    blurred.save(buffer, format="PNG")
    return buffer.getvalue()


def click_trials(study: Study):
    """The QuerySet of `study`'s trials on BubbleView pages: all of an attention study, or its attention
    block's."""
    trials = Trial.objects.filter(participant__study=study)
    return trials if study.design == Study.Design.ATTENTION else trials.filter(block=Trial.Block.ATTENTION)


class Attention(Design):
    name = Study.Design.ATTENTION
    control_targets = (BLURRED,)
    allows_explanations = False
    asks_question = False
    export_columns = ("n_clicks",)

    def check_options(self, options: Mapping) -> dict:
        unknown = set(options) - {*BOUNDS, "task"}
        if unknown:
            raise ValueError(f"unknown attention option(s) {sorted(unknown)}; the design takes: "
                             f"{', '.join([*BOUNDS, 'task'])}")
        checked = {name: options.get(name, default) for name, (default, _, _) in BOUNDS.items()}
        for name, (_, low, high) in BOUNDS.items():
            value = checked[name]
            no_limit = name == "time_limit_s" and value == 0
            if type(value) is not int or not (low <= value <= high or no_limit):
                extra = " (or 0: no limit)" if name == "time_limit_s" else ""
                raise ValueError(f"{name} is a whole number from {low} to {high}{extra}, got {value!r}")
        if checked["max_clicks"] < checked["min_clicks"]:
            raise ValueError(f"max_clicks ({checked['max_clicks']}) is below min_clicks "
                             f"({checked['min_clicks']})")
        task = options.get("task", DEFAULT_TASK)
        if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK:
            raise ValueError(f"task is the text shown to the participant, 1 to {MAX_TASK} characters")
        return checked | {"task": task.strip()}

    def options_of(self, study: Study) -> dict:
        """The options of `study`'s BubbleView pages: its design options, or those of its attention block."""
        return study.design_options if study.design == self.name else study.attention_block

    def stimulus_targets(self, is_control: bool, item: Item) -> list[str]:
        return [BLURRED]

    def describe(self, options: Mapping) -> str:
        limit = f"{options['time_limit_s']} s limit" if options["time_limit_s"] else "no time limit"
        return (f"blur sigma {options['sigma']} px, bubble radius {options['radius']} px, "
                f"{options['min_clicks']}-{options['max_clicks']} clicks, {limit}")

    def presented_options(self, study: Study, item: Item, seed: int) -> list[str]:
        return []

    def item_options(self, options: Mapping, ranked: list[str], composed: list[str]) -> list[str]:
        return []

    def explained_classes(self, prediction: str, options: list[str],
                          details: Mapping | None = None) -> list[str]:
        return []

    def control_stimuli(self, options: Mapping, image: Image.Image, display: Image.Image) -> dict[str, bytes]:
        return {BLURRED: blurred_png(image, display, options["sigma"])}

    def item_details(self, image, display) -> dict:
        """The item image's size (pixels) and its scale from the source image (display / source pixels)."""
        return {"width": display.width, "height": display.height, "scale": display.width / image.width}

    def page_context(self, trial) -> dict:
        """The options, and the bubble radius in item-image pixels (the options give it in source-image
        pixels)."""
        options = self.options_of(trial.participant.study)
        radius = options["radius"] * trial.item.details.get("scale", 1.0)
        return {"options": options, "radius": round(radius, 1)}

    def score(self, study: Study, item: Item, presented: list[str], data: Mapping) -> Answer:
        """BadInput unless `clicks` is a JSON list of [x, y, t_ms] inside the item image, t_ms increasing,
        min_clicks..max_clicks of them (fewer allowed when the time limit ran out: `timed_out`)."""
        width, height = item.details["width"], item.details["height"]
        try:
            clicks = json.loads(data.get("clicks") or "")
        except (TypeError, ValueError):
            raise BadInput("The clicks are not valid.") from None
        if not isinstance(clicks, list) or not all(
                isinstance(click, list) and len(click) == 3 and all(
                    type(value) in (int, float) and math.isfinite(value) for value in click)
                for click in clicks):
            raise BadInput("The clicks are not valid.")
        clicks = [[round(x, 1), round(y, 1), round(t)] for x, y, t in clicks]
        if not all(0 <= x < width and 0 <= y < height and t >= 0 for x, y, t in clicks):
            raise BadInput("A click lies outside the image.")
        if any(later[2] < earlier[2] for earlier, later in zip(clicks, clicks[1:])):
            raise BadInput("The clicks' times are not in order.")
        options = self.options_of(study)
        low = 0 if options["time_limit_s"] and data.get("timed_out") == "1" else options["min_clicks"]
        if not low <= len(clicks) <= options["max_clicks"]:
            raise BadInput(f"Please click {options['min_clicks']} to {options['max_clicks']} times.")
        return Answer(CLICKS, None, {"clicks": clicks, "width": width, "height": height})

    def export_values(self, details: Mapping) -> tuple:
        return (len(details.get("clicks", ())),)

    def write_analysis(self, study, trials, participants, questionnaire, folder: Path, method: str,
                       notes: list[str]) -> list[Path]:
        """clicks_summary.csv: clicks per trial (n, mean, median) by image and by participant, completed
        participants only; table1.md the same as Markdown."""
        summary = clicks_summary(trials[trials["outcome"] == "completed"])
        folder.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = folder / "clicks_summary.csv", folder / "table1.md"
        summary.to_csv(csv_path, index=False)
        lines = [*(f"{note}\n" for note in notes), "| by | value | n | mean clicks | median clicks |",
                 "|---|---|---|---|---|"]
        lines += [f"| {row.by} | {row.value} | {row.n} | {row.mean:.2f} | {row.median:g} |"
                  for row in summary.itertuples()]
        md_path.write_text("\n".join(lines) + "\n")
        return [csv_path, md_path]


def clicks_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Clicks per trial (n trials, mean, median) by item, then by participant, of a frame with columns item,
    participant and n_clicks (one row per trial): columns by, value, n, mean, median."""
    tables = []
    for by in ("item", "participant"):
        table = trials.groupby(by)["n_clicks"].agg(n="count", mean="mean", median="median").reset_index()
        table = table.rename(columns={by: "value"}).assign(by=by)
        tables.append(table[["by", "value", "n", "mean", "median"]])
    return pd.concat(tables, ignore_index=True)


def block_clicks_summary(study: Study) -> pd.DataFrame:
    """clicks_summary of the attention block of `study`: its answered trials of completed participants
    (not previews)."""
    trials = click_trials(study).filter(participant__is_preview=False, answered_at__isnull=False,
                                        participant__outcome="completed")
    rows = [(item, participant, len(details.get("clicks", ())))
            for item, participant, details in trials.values_list("item__name", "participant_id", "details")]
    return clicks_summary(pd.DataFrame(rows, columns=["item", "participant", "n_clicks"]))
