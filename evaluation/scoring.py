"""What every metric shares: the module behind a model, its class probabilities in chunks, checks."""
from __future__ import annotations

import torch
from torch import nn

from evaluation.errors import EvaluationError
from explainers import LoadedModel


def module_of(model: LoadedModel | nn.Module) -> nn.Module:
    return model.module if isinstance(model, LoadedModel) else model


def probabilities(model: LoadedModel | nn.Module, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """(N, 3, H, W) model inputs -> (N, C) class probabilities (softmax; sigmoid for a multi-label
    LoadedModel), under inference mode, `batch_size` images per forward pass. The chunks go in as
    channels-last tensors: on the CPU that halves the time of depthwise-convolution nets."""
    module = module_of(model)
    multi_label = isinstance(model, LoadedModel) and model.multi_label
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = module(images[start:start + batch_size].contiguous(memory_format=torch.channels_last))
            outputs.append(logits.sigmoid() if multi_label else logits.softmax(dim=1))
    return torch.cat(outputs)


def target_probabilities(model, images: torch.Tensor, targets: torch.Tensor,
                         batch_size: int = 64) -> torch.Tensor:
    """(N, 3, H, W) inputs and (N,) classes -> (N,) probability of each image's class."""
    return probabilities(model, images, batch_size).gather(1, targets[:, None])[:, 0]


def check_batch(images: torch.Tensor, targets, maps: torch.Tensor | None = None) -> torch.Tensor:
    """Validate a (B, 3, H, W) batch, B targets and (B, H, W) maps; return targets as (B,) int64."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise EvaluationError("images must be a (B, 3, H, W) tensor of model inputs")
    targets = torch.as_tensor(targets, dtype=torch.int64, device=images.device).reshape(-1)
    if len(targets) != len(images):
        raise EvaluationError(f"got {len(targets)} targets for {len(images)} images; give one per image")
    if maps is not None and (maps.dim() != 3 or maps.shape[0] != len(images)
                             or maps.shape[1:] != images.shape[2:]):
        raise EvaluationError(f"maps must be (B, H, W) = {(len(images), *images.shape[2:])}, "
                              f"got {tuple(maps.shape)}")
    return targets
