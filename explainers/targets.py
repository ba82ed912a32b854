"""What every method shares: one target class per image, the target's score, min-max scaling of maps."""
from __future__ import annotations

import torch

from explainers.errors import ExplainError


def as_targets(targets, batch_size: int, device: torch.device) -> torch.Tensor:
    """One class index per image -> (B,) int64 on `device`; refuses a length other than B."""
    targets = torch.as_tensor(targets, dtype=torch.int64, device=device).reshape(-1)
    if len(targets) != batch_size:
        raise ExplainError(f"got {len(targets)} targets for {batch_size} images; give exactly one per image")
    return targets


def target_scores(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, C) scores and (B,) class indices -> (B,) score of each image's target; refuses bad indices."""
    if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= scores.shape[1]):
        raise ExplainError(f"target classes must lie in [0, {scores.shape[1]}), got {targets.tolist()}")
    return scores.gather(1, targets[:, None])[:, 0]


def normalise(maps: torch.Tensor) -> torch.Tensor:
    """Per-map min-max scaling: (B, H, W) -> (B, H, W) float32 in [0, 1]; constant maps become 0."""
    flat = maps.flatten(1).float()
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).view_as(maps)
