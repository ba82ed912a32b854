"""Layer-wise Relevance Propagation (Bach et al. 2015) through zennit's rules, batched.

Rules (Montavon et al. 2019): "epsilon" (LRP-eps on every conv and linear layer), "gamma"
(LRP-gamma on every conv and linear layer), "alpha1beta0" (LRP-alpha1beta0, i.e. z+, on every
conv and linear layer) and "composite" (zennit's EpsilonPlus: z+ on conv layers, eps on linear
layers). Everywhere: activations pass relevance on, average pooling splits it in proportion to
its inputs, batch norms are merged into the conv before them, and residual additions split
relevance in proportion to their summands, by the canonizers `explainers.canonizers.canonizers_for`
picks from the architecture (torchvision ResNets, EfficientNet-Lite, sequential networks such as
VGG and SmallCNN). Where biases are zero every rule conserves relevance (the input's relevance
sums to the logit); biases absorb their share (on the trained EfficientNet-Lite0, most of it).
Residual additions of other architectures (torchvision's MobileNet, EfficientNet, ConvNeXt, RegNet)
have no rule: relevance is copied to both branches there, so their maps are not LRP. zennit's gamma
rule treats a negative layer output by its negative contributions (captum's does not), so the two
agree on targets with a positive logit.
"""
from __future__ import annotations

import torch
from torch import nn
from zennit.composites import EpsilonPlus, LayerMapComposite, layer_map_base
from zennit.rules import AlphaBeta, Epsilon, Gamma
from zennit.types import Convolution

from explainers.canonizers import canonizers_for
from explainers.errors import ExplainError
from explainers.targets import as_targets, target_scores

RULES = ("epsilon", "gamma", "alpha1beta0", "composite")


def composite(rule: str, epsilon: float, gamma: float, module: nn.Module):
    """The zennit composite of a rule name, with the canonizers of `module`'s architecture."""
    canonizers = canonizers_for(module)
    if rule == "composite":
        return EpsilonPlus(epsilon=epsilon, canonizers=canonizers)
    hook = {"epsilon": lambda: Epsilon(epsilon=epsilon), "gamma": lambda: Gamma(gamma=gamma),
            "alpha1beta0": lambda: AlphaBeta(alpha=1.0, beta=0.0)}[rule]
    return LayerMapComposite(layer_map=layer_map_base() + [(Convolution, hook()), (nn.Linear, hook())],
                             canonizers=canonizers)


def lrp_attributions(module: nn.Module, images: torch.Tensor, targets, rule: str = "composite",
                     epsilon: float = 1e-6, gamma: float = 0.25) -> torch.Tensor:
    """(B, 3, H, W) relevance of each pixel for the target logit, which is the relevance put on
    the output (so relevance sums to about the logit where the rule conserves it)."""
    if rule not in RULES:
        raise ExplainError(f"LRP rule must be one of {', '.join(RULES)}, not {rule!r}")
    targets = as_targets(targets, len(images), images.device)
    with composite(rule, epsilon, gamma, module).context(module) as modified, torch.enable_grad():
        inputs = images.detach().requires_grad_(True)
        scores = modified(inputs)
        chosen = target_scores(scores, targets)
        relevance = torch.zeros_like(scores).scatter_(1, targets[:, None], chosen.detach()[:, None])
        (attribution,) = torch.autograd.grad(scores, inputs, grad_outputs=relevance)
    return attribution
