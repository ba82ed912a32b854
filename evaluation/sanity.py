"""Sanity checks of explanation methods (Adebayo et al. 2018): model parameter randomisation,
cascading from the top layer or one layer at a time, and data randomisation (a small model
trained on permuted labels). Maps are compared per image by Spearman rank correlation, SSIM and
the Pearson correlation of their HOG features; a method that passes gives dissimilar maps."""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity
from torch import nn

from evaluation.errors import EvaluationError
from evaluation.scoring import check_batch, module_of
from explainers import LoadedModel, explain
from explainers.classifier import TrainingResult, to_tensor, train_classifier
from explainers.nets import SmallCNN

ORDERS = ("cascading", "independent")
HOG_CELL = 16  # pixels per HOG cell side


@dataclass(frozen=True)
class Similarity:
    """Per-image similarity of two sets of maps; each (B,) float64, 1 = identical maps."""

    spearman: np.ndarray
    ssim: np.ndarray
    hog: np.ndarray


def map_similarity(a: np.ndarray, b: np.ndarray) -> Similarity:
    """(B, H, W) maps in [0, 1] -> Spearman rank correlation, SSIM (data range 1) and the Pearson
    correlation of HOG features (cells of 16 px) per image; NaN where a map is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise EvaluationError(f"maps to compare must both be (B, H, W), got {a.shape} and {b.shape}")
    rows = []
    for x, y in zip(a, b):
        constant = np.ptp(x) == 0 or np.ptp(y) == 0
        rho = np.nan if constant else stats.spearmanr(x.ravel(), y.ravel()).statistic
        hx, hy = (hog(m, pixels_per_cell=(HOG_CELL, HOG_CELL), cells_per_block=(2, 2)) for m in (x, y))
        hog_r = np.nan if np.ptp(hx) == 0 or np.ptp(hy) == 0 else stats.pearsonr(hx, hy).statistic
        rows.append((rho, structural_similarity(x, y, data_range=1.0), hog_r))
    spearman, ssim, hog_r = np.array(rows, dtype=np.float64).T
    return Similarity(spearman, ssim, hog_r)


@dataclass(frozen=True)
class Randomisation:
    """Maps of the original model compared with maps after randomising each unit in turn."""

    order: str  # "cascading" (top unit first, the ones above stay random) or "independent"
    layers: tuple[str, ...]  # the units after which maps were compared, in the order randomised
    similarity: tuple[Similarity, ...]  # one per compared unit


def randomisable_layers(module: nn.Module) -> list[str]:
    """Names of the submodules with their own `reset_parameters` (Conv2d, Linear, BatchNorm, ...),
    from the input to the output (definition order, as Quantus' MPRT lists them)."""
    return [name for name, layer in module.named_modules() if name and hasattr(layer, "reset_parameters")]


def parameter_randomisation(model, images: torch.Tensor, targets, method: str, *, order: str = "cascading",
                            layers: Sequence[str] | None = None, compare: Sequence[str] | None = None,
                            seed: int = 0, **params) -> Randomisation:
    """Randomise `layers` (module names, default `randomisable_layers`, taken from the top) one after
    the other and compare each map of `method` with the original's. A unit is randomised by seeding
    torch with `seed` and calling `reset_parameters()` on it and every submodule that has one, in
    definition order; the model itself is left untouched (a deep copy is randomised). Maps are
    compared after each unit in `compare` (default: every unit), e.g. every block of a deep net.

    Same result as Quantus' MPRT (layer_order "top_down" / "independent", its seed = ours - 1,
    normalise=False, abs=False, similarity_func=correlation_spearman) when the units are single
    layers: Quantus also reseeds with seed + 1 before each layer and resets it in place."""
    if order not in ORDERS:
        raise EvaluationError(f"unknown order {order!r}; choose from {', '.join(ORDERS)}")
    targets = check_batch(images, targets)
    original = explain(model, images, targets, method, **params).cpu().numpy()
    module = copy.deepcopy(module_of(model))
    randomised = dataclasses.replace(model, module=module) if isinstance(model, LoadedModel) else module
    names = list(layers) if layers is not None else randomisable_layers(module)[::-1]
    compared = set(names if compare is None else compare)
    if not compared <= set(names):
        raise EvaluationError(f"units to compare {sorted(compared - set(names))} "
                              "are not among the randomised ones")
    state = copy.deepcopy(module.state_dict())
    results = []
    for name in names:
        if order == "independent":
            module.load_state_dict(state)
        try:
            unit = module.get_submodule(name)
        except AttributeError as error:
            raise EvaluationError(f"{name!r} is not a submodule of the model") from error
        torch.manual_seed(seed)
        for layer in unit.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        if name in compared:
            maps = explain(randomised, images, targets, method, **params).cpu().numpy()
            results.append(map_similarity(original, maps))
    return Randomisation(order, tuple(n for n in names if n in compared), tuple(results))


@dataclass(frozen=True)
class DataRandomisation:
    """Maps of a model trained on true labels vs the same network trained on permuted labels."""

    true_labels: TrainingResult
    permuted_labels: TrainingResult  # its test accuracy should be near chance
    similarity: Similarity  # per explained test image


def data_randomisation(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                       method: str, *, n_maps: int = 16, size: int = 32, width: int = 16,
                       mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
                       std: tuple[float, float, float] = (0.5, 0.5, 0.5), epochs: int = 3, seed: int = 0,
                       **params) -> DataRandomisation:
    """Train two SmallCNNs (`explainers.classifier.train_classifier`, same seed and settings) on
    `train` = ((N, H, W[, 3]) uint8, (N,) labels), one with the labels permuted, and compare their
    maps of `method` on the first `n_maps` test images, each for its true label."""
    x_train, y_train = train
    labels = np.asarray(y_train)
    permuted = np.random.default_rng(seed).permutation(labels)
    n_classes = int(max(labels.max(), np.max(test[1]))) + 1
    settings = {"size": size, "mean": mean, "std": std, "epochs": epochs, "seed": seed, "progress": False}
    maps, results = [], []
    x = to_tensor(np.asarray(test[0][:n_maps]), size, mean, std)
    y = torch.as_tensor(np.asarray(test[1][:n_maps]), dtype=torch.int64)
    for train_labels in (labels, permuted):
        torch.manual_seed(seed)
        net = SmallCNN(num_classes=n_classes, width=width)
        results.append(train_classifier(net, (x_train, train_labels), test, **settings))
        maps.append(explain(net, x, y, method, target_layer=net.default_target_layer, **params).numpy())
    return DataRandomisation(results[0], results[1], map_similarity(*maps))
