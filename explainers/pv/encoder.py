"""The PV encoder E: a classifier truncated at its target layer, used frozen."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from .errors import PVError


class _Reached(Exception):
    """Raised by the hook on the target layer so the rest of the network (the head) never runs."""


class Encoder(nn.Module):
    """z = model[: target_layer]((x - mean) / std) for images x (B, 3, H, W) in [0, 1].

    Returns the target layer's activations (B, C, h, w). The forward stops at the target layer, so the
    layers after it never run. Gradients flow through to x; use `frozen()` while training a decoder
    so that the model's weights get none and its BatchNorm statistics stay put.
    """

    def __init__(self, model: nn.Module, target_layer: str, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        try:
            model.get_submodule(target_layer)
        except AttributeError as error:
            raise PVError(f"the model has no layer {target_layer!r}") from error
        self.model = model
        self.target_layer = target_layer
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reached = []

        def stop(_module, _inputs, output):
            reached.append(output)
            raise _Reached

        handle = self.model.get_submodule(self.target_layer).register_forward_hook(stop)
        try:
            self.model((x - self.mean) / self.std)
        except _Reached:
            return reached[0]
        finally:
            handle.remove()
        raise PVError(f"the forward pass never reached {self.target_layer!r}")

    @contextmanager
    def frozen(self) -> Iterator["Encoder"]:
        """Eval mode and no weight gradients inside the block; the model's previous state after it."""
        was_training = self.model.training
        flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.model.eval()
        for p, _ in flags:
            p.requires_grad_(False)
        try:
            yield self
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)
            self.model.train(was_training)
