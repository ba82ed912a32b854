"""Localisation of explanation maps against object boxes: the pointing game (Zhang et al. 2016)
and the energy-based pointing game (Wang et al., Score-CAM, 2020), with boxes read from PASCAL
VOC annotation files (`Annotations/*.xml`) with the standard library."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from evaluation.errors import EvaluationError


@dataclass(frozen=True)
class Box:
    """One annotated object; VOC pixel coordinates, 1-based and inclusive."""

    label: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class Annotation:
    filename: str
    width: int
    height: int
    boxes: tuple[Box, ...]


def read_voc_annotation(path: str | Path) -> Annotation:
    """One VOC XML file -> its image size and object boxes; raises EvaluationError naming the file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
        width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
        boxes = tuple(
            Box((obj.findtext("name") or "").strip(),
                *(int(float(obj.findtext(f"bndbox/{key}"))) for key in ("xmin", "ymin", "xmax", "ymax")))
            for obj in root.findall("object")
        )
    except (ET.ParseError, OSError, TypeError, ValueError) as error:
        raise EvaluationError(f"{path}: not a readable VOC annotation (size and object boxes): "
                              f"{error}") from error
    if not boxes:
        raise EvaluationError(f"{path}: no <object> boxes")
    filename = (root.findtext("filename") or f"{path.stem}.jpg").strip()
    return Annotation(filename, width, height, boxes)


def box_mask(annotation: Annotation, size: tuple[int, int], labels: set[str] | None = None) -> np.ndarray:
    """(H, W) bool mask of the boxes (those whose label is in `labels`, when given), scaled from the
    annotated image size to `size` = (H, W), the maps' size (images are resized without a crop)."""
    h, w = size
    mask = np.zeros((h, w), dtype=bool)
    sy, sx = h / annotation.height, w / annotation.width
    for box in annotation.boxes:
        if labels is None or box.label in labels:
            top, left = int(np.floor((box.ymin - 1) * sy)), int(np.floor((box.xmin - 1) * sx))
            bottom, right = int(np.ceil(box.ymax * sy)), int(np.ceil(box.xmax * sx))
            mask[max(top, 0):bottom, max(left, 0):right] = True
    return mask


def pointing_game(maps: np.ndarray, masks: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """(B, H, W) maps and (B, H, W) bool object masks -> (B,) float: 1.0 when a maximum of the map
    (any, if tied) lies within `tolerance` pixels of the mask (Zhang et al. use 15), else 0.0; NaN
    for an empty mask.

    Quantus' PointingGame is the case tolerance=0 (its `weighted` variant is not offered here)."""
    maps, masks = _check(maps, masks)
    hits = np.full(len(maps), np.nan)
    for i, (map_, mask) in enumerate(zip(maps, masks)):
        if mask.any():
            if tolerance > 0:
                mask = ndimage.distance_transform_edt(~mask) <= tolerance
            hits[i] = float(np.any(mask & (map_ == map_.max())))
    return hits


def energy_pointing_game(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(B, H, W) maps >= 0 and (B, H, W) bool masks -> (B,) share of each map's energy (sum) inside
    the boxes, in [0, 1]; NaN for an all-zero map or an empty mask."""
    maps, masks = _check(maps, masks)
    if (maps < 0).any():
        raise EvaluationError("the energy-based pointing game needs non-negative maps")
    inside = (maps * masks).sum(axis=(1, 2))
    total = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((total > 0) & masks.any(axis=(1, 2)), inside / total, np.nan)


def _check(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    maps, masks = np.asarray(maps, dtype=np.float64), np.asarray(masks, dtype=bool)
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise EvaluationError(f"maps and masks must both be (B, H, W), got {maps.shape} and {masks.shape}")
    return maps, masks
