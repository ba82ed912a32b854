"""The one registry of the metrics that score a method's maps: name -> `Metric`, each called the same
way, `METRICS[name].score(batch, method, maps) -> Score` with one value per image.

A `Batch` holds what every metric of every method on one batch of images shares, and computes the
shared parts once: the adversarial plausibility test (which explains the batch with every method)
and each method's confidence change (Average Drop and Increase in Confidence).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch

from evaluation.adversarial import Plausibility, plausibility_test
from evaluation.errors import EvaluationError
from evaluation.faithfulness import (
    ConfidenceChange, Curve, adcc, confidence_change, deletion_curve, insertion_curve,
)
from evaluation.localisation import energy_pointing_game, pointing_game
from evaluation.sanity import Randomisation, parameter_randomisation, randomisable_layers
from explainers import LoadedModel

RANDOMISATION_POINTS = 8  # layers of the cascade at which maps are compared (the last one included)


@dataclass
class Batch:
    """One batch of images scored for several methods, and what their metrics share."""

    model: LoadedModel
    images: torch.Tensor  # (B, 3, H, W) model inputs
    targets: torch.Tensor  # (B,) the class explained in each image
    methods: Sequence[str]  # every method the batch is explained with (the plausibility test uses them all)
    step: int  # pixels per deletion / insertion step
    masks: np.ndarray | None = None  # (B, H, W) bool object boxes, for the pointing games
    _changes: dict[str, ConfidenceChange] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def plausibility(self) -> Plausibility:
        """The adversarial plausibility test of the batch with every method, run once."""
        return plausibility_test(self.model, self.images, self.targets, self.methods)

    def confidence_change(self, method: str, maps: torch.Tensor) -> ConfidenceChange:
        """`confidence_change` of the method's (B, H, W) maps, computed once per method."""
        if method not in self._changes:
            self._changes[method] = confidence_change(self.model, self.images, self.targets, maps)
        return self._changes[method]

    def boxes(self) -> np.ndarray:
        """The (B, H, W) bool object boxes; EvaluationError when the batch has none."""
        if self.masks is None:
            raise EvaluationError("the pointing games need object boxes (a VOC folder with Annotations/)")
        return self.masks


@dataclass(frozen=True)
class Score:
    """One metric of one method on a batch."""

    values: np.ndarray  # (B,) one score per image
    detail: Curve | Randomisation | None = None  # what the report's figures draw, where there is one


@dataclass(frozen=True)
class Metric:
    """How a metric scores a method's (B, H, W) maps in [0, 1] on a batch, and whether it needs boxes."""

    score: Callable[[Batch, str, torch.Tensor], Score]
    needs_boxes: bool = False


def _deletion(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    curve = deletion_curve(batch.model, batch.images, batch.targets, maps, step=batch.step)
    return Score(curve.auc, curve)


def _insertion(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    curve = insertion_curve(batch.model, batch.images, batch.targets, maps, step=batch.step)
    return Score(curve.auc, curve)


def _average_drop(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    return Score(100 * batch.confidence_change(method, maps).drop)


def _increase_in_confidence(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    change = batch.confidence_change(method, maps)
    return Score(100 * (change.masked > change.full).astype(float))


def _adcc(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    return Score(adcc(batch.model, batch.images, batch.targets, method, maps).adcc)


def _pointing_game(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    return Score(pointing_game(maps.cpu().numpy(), batch.boxes()))


def _energy_pointing_game(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    return Score(energy_pointing_game(maps.cpu().numpy(), batch.boxes()))


def _randomisation(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    """Spearman correlation of the original maps with those after cascading randomisation of every
    layer from the top; compared at RANDOMISATION_POINTS layers for the figure."""
    layers = randomisable_layers(batch.model.module)[::-1]
    points = np.unique(np.linspace(0, len(layers) - 1, RANDOMISATION_POINTS).round().astype(int))
    result = parameter_randomisation(batch.model, batch.images, batch.targets, method, layers=layers,
                                     compare=[layers[i] for i in points])
    return Score(result.similarity[-1].spearman, result)


def _plausibility(batch: Batch, method: str, maps: torch.Tensor) -> Score:
    return Score(batch.plausibility.recovery[method])


METRICS: dict[str, Metric] = {
    "deletion": Metric(_deletion),
    "insertion": Metric(_insertion),
    "average_drop": Metric(_average_drop),
    "increase_in_confidence": Metric(_increase_in_confidence),
    "adcc": Metric(_adcc),
    "pointing_game": Metric(_pointing_game, needs_boxes=True),
    "energy_pointing_game": Metric(_energy_pointing_game, needs_boxes=True),
    "randomisation": Metric(_randomisation),
    "plausibility": Metric(_plausibility),
}
