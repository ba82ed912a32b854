"""What a study build is asked for (BuildRequest, with the digest that names the study it makes) and the
error a build fails with (BuildError)."""

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from explainers.pv import MIN_PSNR_MARGIN_DB, MIN_SSIM_MARGIN


class BuildError(Exception):
    """The study cannot be built as asked (too few items, existing slug, unknown arm, ...)."""


@dataclass(frozen=True)
class BuildRequest:
    """What build_study is asked to build; `key()` is the digest of what shapes the study."""

    slug: str
    model: str | dict  # a spec for explainers.load_model
    dataset: Path
    arms: tuple[str, ...] = ("gradcam", "pv")
    design: str = "simulation"  # a key of study.survey.designs.DESIGNS
    design_options: dict = field(default_factory=dict)  # the design's options, e.g. {"k": 4}
    # A BubbleView block on every image before the questions, with the attention design's options ({}: its
    # defaults); None: no block.
    attention_block: dict | None = None
    n_correct: int = 16
    n_incorrect: int = 14
    seed: int = 0
    decoder: Path | None = None  # a PV decoder for this model; trained and cached when absent
    decoder_epochs: int = 10
    # The layer the PV decoder inverts; empty: the model's target layer, the one the explanations are taken
    # from (the last convolutional block unless the model spec names another), as the PV paper does.
    decoder_layer: str = ""
    # The quality gate: the decoder must beat the mean image on held-out images by these margins.
    decoder_min_ssim_margin: float = MIN_SSIM_MARGIN
    decoder_min_psnr_margin: float = MIN_PSNR_MARGIN_DB
    batch_size: int = 64
    device: str = "cpu"
    replace: bool = False
    title: str = ""
    method_params: dict = field(default_factory=dict)  # per technique, e.g. {"scorecam": {"chunk_size": 16}}
    owner_id: int | None = None  # the user who owns the study (None: superusers only)
    rendering: str = "white_mask"  # a key of rendering.RENDERINGS
    # Attention checks: extra items, each an unmasked image the model classified correctly (in every arm),
    # whose expected answer is that class; at these 1-based question positions (fixed order), or spread
    # evenly when none are given.
    attention_checks: int = 0
    attention_positions: tuple[int, ...] = ()
    confidence_rating: int = 0  # ask for a confidence rating 1..N with each answer (0: none; N in 2..10)
    questionnaire: dict | None = None  # blocks before/after the questions (study.survey.questionnaire)
    distractors: str = "auto"  # "auto" or a key of DISTRACTORS: how the options are filled up
    distractor_classes: tuple[str, ...] = ()  # the class subset of "subset" (given alone it means "subset")
    # Open the study at once; by default it is a draft that the researcher opens from the study page once
    # its consent text and redirect are reviewed.
    open: bool = False

    def key(self) -> str:
        """A digest of every parameter that shapes the study (the later options only when not default,
        so studies built before them keep their key)."""
        defaults = {f.name: f.default for f in fields(self) if f.name in _LATER_OPTIONS}
        data = asdict(self) | {"replace": None, "device": None, "batch_size": None, "owner_id": None,
                               "open": None}
        data = {k: v for k, v in data.items() if k not in defaults or _tuple_or(v) != _tuple_or(defaults[k])}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


_LATER_OPTIONS = ("design", "design_options", "attention_block", "rendering", "attention_checks",
                  "attention_positions", "confidence_rating",
                  "questionnaire", "distractors", "distractor_classes", "decoder_layer",
                  "decoder_min_ssim_margin", "decoder_min_psnr_margin")


def _tuple_or(value):
    return tuple(value) if isinstance(value, list | tuple) else value
