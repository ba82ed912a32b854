"""Class activation maps, batched and device-resident.

`BaseCAM` runs the model once with a forward hook on the target layer. The network up to that
layer runs under no_grad; the hook hands the rest of the network a fresh leaf copy of the
activation, so the only graph recorded goes from the scores back to the activation and
`torch.autograd.grad` computes exactly that gradient (no parameter grads, and in-place ReLUs
after the layer cannot touch the stored activation). Each method is a subclass that says how it
weighs the channels.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from explainers.attribution import guided_backprop_attributions, pixel_map
from explainers.errors import ExplainError
from explainers.noise import noisy_copies
from explainers.targets import as_targets, normalise, target_scores


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) -> (B, H, W), bilinear (half-pixel centres, as OpenCV's INTER_LINEAR)."""
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


@contextmanager
def capture_activation(layer: nn.Module, with_grad: bool) -> Iterator[dict]:
    """Forward hook on `layer` that stores its output as `store["activation"]`.

    With `with_grad`, the stored activation is a leaf that requires grad, grad mode is switched
    on for the rest of the forward pass, and the network continues on a copy of it. The hook is
    removed on exit, also after an error."""
    store: dict = {"calls": 0}

    def hook(module, inputs, output):
        store["calls"] += 1
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise ExplainError(f"target layer must output a (B, K, h, w) tensor, got {type(output).__name__}")
        if not with_grad:
            store["activation"] = output.detach().clone()
            return None
        leaf = output.detach().requires_grad_(True)
        store["activation"] = leaf
        torch.set_grad_enabled(True)
        return leaf.clone()

    handle = layer.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def resolve_layer(module: nn.Module, layer: nn.Module | str) -> nn.Module:
    """A dotted submodule name (or a module) -> the submodule; clear error when absent."""
    if isinstance(layer, nn.Module):
        return layer
    try:
        return module.get_submodule(layer)
    except AttributeError as error:
        raise ExplainError(f"target layer {layer!r} is not a submodule of {type(module).__name__}") from error


class BaseCAM:
    """Weighted sum of the target layer's channels, ReLU, bilinear upsampling, min-max per image."""

    uses_gradients = True

    def __init__(self, module: nn.Module, target_layer: nn.Module | str):
        self.module = module
        self.layer = resolve_layer(module, target_layer)

    def __call__(self, images: torch.Tensor, targets) -> torch.Tensor:
        """(B, 3, H, W) batch, one class per image -> (B, H, W) float32 in [0, 1] on the images' device."""
        return self.maps_and_scores(images, as_targets(targets, len(images), images.device))[0]

    def maps_and_scores(self, images: torch.Tensor, targets=None) -> tuple[torch.Tensor, torch.Tensor]:
        """As `__call__`, also returning the (B, C) scores of the same forward pass; with targets None
        each image's top-scoring class is explained (the prediction costs no second pass)."""
        if targets is not None:
            targets = as_targets(targets, len(images), images.device)
        activation, gradient, scores = self.activations_and_gradients(images, targets)
        targets = scores.argmax(dim=1) if targets is None else targets
        cam = self.cam(activation, gradient, images, targets)
        return normalise(upsample(torch.relu(cam.float()), images.shape[-2:])), scores

    def activations_and_gradients(self, images: torch.Tensor, targets: torch.Tensor | None):
        """-> activation (B, K, h, w), its gradient of the target scores (or None), scores (B, C);
        targets None: each image's top-scoring class."""
        with capture_activation(self.layer, self.uses_gradients) as store, torch.no_grad():
            scores = self.module(images)
        if targets is None:
            targets = scores.detach().argmax(dim=1)
        if store["calls"] != 1:
            raise ExplainError(f"target layer ran {store['calls']} times in one forward pass; "
                               "choose a module that runs exactly once")
        activation = store["activation"]
        if not self.uses_gradients:
            target_scores(scores, targets)
            return activation, None, scores
        (gradient,) = torch.autograd.grad(target_scores(scores, targets).sum(), activation)
        return activation.detach(), gradient, scores.detach()

    def cam(self, activation, gradient, images, targets) -> torch.Tensor:
        """(B, K, h, w) activation and gradient -> (B, h, w) map before ReLU."""
        return (self.weights(activation, gradient) * activation).sum(dim=1)

    def weights(self, activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        """Channel weights, broadcastable to (B, K, h, w)."""
        raise NotImplementedError


class GradCAM(BaseCAM):
    """Selvaraju et al. 2017: channel weight = spatial mean of the gradient."""

    def weights(self, activation, gradient):
        return gradient.mean(dim=(2, 3), keepdim=True)


class GradCAMPlusPlus(BaseCAM):
    """Chattopadhay et al. 2018, eq. 19 (with exp scores, so only powers of the first gradient)."""

    def weights(self, activation, gradient):
        g2 = gradient.pow(2)
        sum_a = activation.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + sum_a * g2 * gradient + 1e-6)
        alpha = torch.where(gradient != 0, alpha, torch.zeros_like(alpha))
        return (alpha * torch.relu(gradient)).sum(dim=(2, 3), keepdim=True)


class XGradCAM(BaseCAM):
    """Fu et al. 2020: gradient weighted by the activation's share of its channel sum."""

    def weights(self, activation, gradient):
        sum_a = activation.sum(dim=(2, 3), keepdim=True)
        return (gradient * activation / (sum_a + 1e-7)).sum(dim=(2, 3), keepdim=True)


class LayerCAM(BaseCAM):
    """Jiang et al. 2021: per-location weight = positive part of the gradient."""

    def weights(self, activation, gradient):
        return torch.relu(gradient)


class ScoreCAM(BaseCAM):
    """Wang et al. 2020: each channel, upsampled and min-max scaled, masks the input; the channel's
    weight is the softmax over channels of the masked inputs' target scores (logits).
    Masked inputs run `chunk_size` at a time, so memory stays bounded whatever K is."""

    uses_gradients = False

    def __init__(self, module: nn.Module, target_layer: nn.Module | str, chunk_size: int = 32):
        super().__init__(module, target_layer)
        self.chunk_size = chunk_size

    def cam(self, activation, gradient, images, targets):
        size = images.shape[-2:]
        scores = torch.empty(activation.shape[:2], device=activation.device)
        with torch.no_grad():
            for b in range(len(images)):
                for start in range(0, activation.shape[1], self.chunk_size):
                    masks = F.interpolate(activation[b, start:start + self.chunk_size, None], size=size,
                                          mode="bilinear", align_corners=False)[:, 0]
                    masked = images[b] * normalise(masks)[:, None]
                    scores[b, start:start + len(masks)] = self.module(masked)[:, targets[b]]
        return (scores.softmax(dim=1)[:, :, None, None] * activation).sum(dim=1)


class FEM(BaseCAM):
    """Ahmed Asif et al. 2021, Feature Explanation Method: binarise each channel at its spatial
    mean + k * std (population std, strict >), weigh each binary map by the channel's mean, sum.
    Not class-specific: targets are checked but do not change the map."""

    uses_gradients = False

    def __init__(self, module: nn.Module, target_layer: nn.Module | str, k: float = 1.0):
        super().__init__(module, target_layer)
        self.k = k

    def cam(self, activation, gradient, images, targets):
        return fem_map(activation, self.k)


def fem_map(activation: torch.Tensor, k: float = 1.0) -> torch.Tensor:
    """(B, K, h, w) activation -> (B, h, w) FEM map before normalisation."""
    mean = activation.mean(dim=(2, 3), keepdim=True)
    std = activation.std(dim=(2, 3), keepdim=True, correction=0)
    binary = (activation > mean + k * std).to(activation.dtype)
    return (binary * mean).sum(dim=1)


class CAM(BaseCAM):
    """Zhou et al. 2016, for networks whose target layer is followed by global average pooling and one
    linear layer: channel weights = that layer's row of the target class. `classifier` names the
    layer (default: the module's last nn.Linear); its input size must equal the channel count."""

    uses_gradients = False

    def __init__(self, module: nn.Module, target_layer: nn.Module | str, classifier: str | None = None):
        super().__init__(module, target_layer)
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        self.linear = resolve_layer(module, classifier) if classifier else (linears[-1] if linears else None)
        if not isinstance(self.linear, nn.Linear):
            raise ExplainError("CAM needs a network that ends in a linear layer (give `classifier`)")

    def cam(self, activation, gradient, images, targets):
        if self.linear.in_features != activation.shape[1]:
            raise ExplainError(f"CAM needs global average pooling of the target layer's "
                               f"{activation.shape[1]} channels into the linear layer, which takes "
                               f"{self.linear.in_features} inputs")
        weights = self.linear.weight[targets].detach().to(activation.dtype)
        return torch.einsum("bk,bkhw->bhw", weights, activation)


class GuidedGradCAM(GradCAM):
    """Selvaraju et al. 2017: guided backprop times the Grad-CAM map (ReLU, bilinear upsampling),
    turned into a map like the pixel methods (|.| summed over colours, min-max per image)."""

    def maps_and_scores(self, images: torch.Tensor, targets=None) -> tuple[torch.Tensor, torch.Tensor]:
        if targets is not None:
            targets = as_targets(targets, len(images), images.device)
        activation, gradient, scores = self.activations_and_gradients(images, targets)
        targets = scores.argmax(dim=1) if targets is None else targets
        cam = upsample(torch.relu(self.cam(activation, gradient, images, targets).float()), images.shape[-2:])
        return pixel_map(guided_backprop_attributions(self.module, images, targets) * cam[:, None]), scores


@contextmanager
def replaced_output(layer: nn.Module, output: torch.Tensor) -> Iterator[None]:
    """While active, `layer` returns `output` instead of what it computes."""
    handle = layer.register_forward_hook(lambda module, inputs, computed: output)
    try:
        yield
    finally:
        handle.remove()


class ReciproCAM(BaseCAM):
    """Byun & Lee 2022, gradient-free: for each of the h x w positions, the target layer's activation
    with every other position set to 0 goes through the rest of the network; the map at that position
    is the target's softmax probability. `batch_size` masked copies run at a time (the layers before
    the target layer run again on copies of the image, so any network works)."""

    uses_gradients = False

    def __init__(self, module: nn.Module, target_layer: nn.Module | str, batch_size: int = 64):
        super().__init__(module, target_layer)
        self.batch_size = batch_size

    def cam(self, activation, gradient, images, targets):
        batch, _, height, width = activation.shape
        spots = torch.eye(height * width, device=activation.device, dtype=activation.dtype)
        spots = spots.view(height * width, 1, height, width)
        maps = torch.empty(batch, height * width, device=activation.device)
        with torch.no_grad():
            for b in range(batch):
                for start in range(0, height * width, self.batch_size):
                    masked = activation[b] * spots[start:start + self.batch_size]
                    with replaced_output(self.layer, masked):
                        scores = self.module(images[b:b + 1].expand(len(masked), -1, -1, -1))
                    maps[b, start:start + len(masked)] = scores.softmax(dim=1)[:, targets[b]]
        return maps.view(batch, height, width)


class SmoothGradCAMPlusPlus(BaseCAM):
    """Omeiza et al. 2019: Grad-CAM++'s weights with the gradient's first, second and third powers
    each averaged over `n` noisy copies of the image (noise as smoothgrad: sigma x (max - min),
    `seed`); the activation is the clean image's."""

    def __init__(self, module: nn.Module, target_layer: nn.Module | str, n: int = 25, sigma: float = 0.15,
                 seed: int = 0):
        super().__init__(module, target_layer)
        self.n, self.sigma, self.seed = n, sigma, seed

    def cam(self, activation, gradient, images, targets):
        powers = [torch.zeros_like(activation) for _ in range(3)]
        for noisy in noisy_copies(images, self.n, self.sigma, self.seed):
            _, noisy_gradient, _ = self.activations_and_gradients(noisy, targets)
            for order, total in enumerate(powers, start=1):
                total += noisy_gradient.pow(order) / self.n
        return (smooth_gradcampp_weights(activation, *powers) * activation).sum(dim=1)


def smooth_gradcampp_weights(activation: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                             d3: torch.Tensor) -> torch.Tensor:
    """Omeiza et al. eq. 8-9: alpha = D2 / (2 D2 + sum_ab A_ab D3), w = sum_ij alpha relu(D1); D_k the
    mean k-th power of the gradient, all (B, K, h, w) -> (B, K, 1, 1)."""
    sum_a = activation.sum(dim=(2, 3), keepdim=True)
    alpha = d2 / (2 * d2 + sum_a * d3 + 1e-6)
    alpha = torch.where(d2 != 0, alpha, torch.zeros_like(alpha))
    return (alpha * torch.relu(d1)).sum(dim=(2, 3), keepdim=True)
