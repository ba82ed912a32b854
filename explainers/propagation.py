"""Modified backward passes through the activations: DeconvNet and DeepLIFT (rescale rule).

Both keep the forward pass as it is and change only how each elementwise activation module
passes the gradient back: a forward pre-hook keeps the activation's input, a forward hook swaps
its output for the same values whose backward is the rule (`_Rule`). Hooks are removed on exit;
in-place activations work, since the input is copied before the module runs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from explainers.attribution import input_gradients
from explainers.errors import ExplainError
from explainers.targets import as_targets, target_scores

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid)

# rule(module, x, y, grad_y) -> grad_x, all (N, ...) tensors of the activation's shape.
BackwardRule = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class _Rule(torch.autograd.Function):
    """Forward: y. Backward: rule(x, y, grad) into x (y's own graph is not used)."""

    @staticmethod
    def forward(ctx, x, y, rule, module):
        ctx.save_for_backward(x, y)
        ctx.rule, ctx.module = rule, module
        return y.clone()

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return ctx.rule(ctx.module, x.detach(), y.detach(), grad), None, None, None


@contextmanager
def activation_rule(module: nn.Module, rule: BackwardRule) -> Iterator[None]:
    """While active, every ACTIVATIONS submodule of `module` passes gradients back by `rule`."""
    inputs: dict[nn.Module, torch.Tensor] = {}

    def keep_input(layer, args):
        inputs[layer] = args[0].clone() if getattr(layer, "inplace", False) else args[0]

    def swap_output(layer, args, output):
        return _Rule.apply(inputs.pop(layer), output.detach(), rule, layer)

    layers = [m for m in module.modules() if isinstance(m, ACTIVATIONS)]
    handles = [h for layer in layers for h in (layer.register_forward_pre_hook(keep_input),
                                               layer.register_forward_hook(swap_output))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def local_derivative(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The elementwise derivative of an activation module at `x` (same shape as x)."""
    with torch.enable_grad():
        point = x.detach().clone().requires_grad_(True)
        (slope,) = torch.autograd.grad(layer.forward(point * 1).sum(), point)
    return slope


def _deconvnet_rule(layer, x, y, grad):
    return grad.clamp(min=0)


def deconvnet_attributions(module: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    """Zeiler & Fergus 2014 as in Springenberg et al.: the input gradient with each ReLU passing
    back the positive part of the incoming gradient, whatever its forward input. (B, 3, H, W)."""
    bad = [type(m).__name__ for m in module.modules() if isinstance(m, ACTIVATIONS)
           and not isinstance(m, (nn.ReLU, nn.ReLU6))]
    if bad:
        raise ExplainError(f"deconvnet is defined for ReLU networks; this one has {sorted(set(bad))}")
    targets = as_targets(targets, len(images), images.device)
    with activation_rule(module, _deconvnet_rule):
        return input_gradients(module, images, targets)


def deeplift_attributions(module: nn.Module, images: torch.Tensor, targets,
                          baseline: torch.Tensor | None = None, eps: float = 1e-10) -> torch.Tensor:
    """Shrikumar et al. 2017, rescale rule: each activation passes back the gradient times
    (y - y0) / (x - x0), x0 and y0 from the `baseline` pass (its own derivative where |x - x0| <= eps);
    linear layers pass gradients; max pooling passes the gradient (DeepLIFT's default "gradient"
    mode). Returns (x - x0) * multipliers, (B, 3, H, W); `baseline` is (1 or B, 3, H, W), default zeros
    (explain() passes the black image of a LoadedModel). Images and baselines run as one batch of 2B."""
    targets = as_targets(targets, len(images), images.device)
    baseline = torch.zeros_like(images) if baseline is None else baseline.expand_as(images)
    batch = len(images)

    def rescale(layer, x, y, grad):
        dx = x[:batch] - x[batch:]
        moved = dx.abs() > eps
        ratio = (y[:batch] - y[batch:]) / torch.where(moved, dx, torch.ones_like(dx))
        if not bool(moved.all()):
            ratio = torch.where(moved, ratio, local_derivative(layer, x[:batch]))
        return torch.cat([grad[:batch] * ratio, torch.zeros_like(grad[batch:])])

    with activation_rule(module, rescale), torch.enable_grad():
        both = torch.cat([images, baseline]).detach().requires_grad_(True)
        scores = module(both)[:batch]
        (gradient,) = torch.autograd.grad(target_scores(scores, targets).sum(), both)
    return (images - baseline) * gradient[:batch]
