"""zennit canonizers for the networks the platform loads, and the one rule that picks them.

A canonizer rewrites a network, for the time of an LRP pass, into an equivalent one whose every
step has an LRP rule: batch norms are merged into the convolution before them, and a residual
addition `a + b` becomes a zennit `Sum` module, whose rule splits the relevance of the sum between
`a` and `b` in proportion to their values. Without it autograd copies the whole relevance to both
branches, so relevance doubles at every residual block.
"""
from __future__ import annotations

import torch
from efficientnet_lite_pytorch.model import EfficientNet, MBConvBlock
from efficientnet_lite_pytorch.utils import drop_connect
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from zennit.canonizers import (AttributeCanonizer, Canonizer, CompositeCanonizer, NamedMergeBatchNorm,
                               SequentialMergeBatchNorm)
from zennit.layer import Sum
from zennit.torchvision import ResNetCanonizer

from explainers.errors import ExplainError


def canonizers_for(module: nn.Module) -> list[Canonizer]:
    """The canonizers of `module`, chosen by the blocks it holds: a torchvision ResNet BasicBlock or
    Bottleneck -> zennit's ResNetCanonizer; an EfficientNet-Lite MBConvBlock -> EfficientNetLiteCanonizer;
    anything else (VGG-likes, SmallCNN) -> SequentialMergeBatchNorm, which is exact for networks without
    residual additions. Other residual blocks (torchvision's MobileNet, EfficientNet, ConvNeXt, RegNet)
    get no rule for their additions, so LRP on them does not conserve relevance."""
    blocks = {type(sub) for sub in module.modules()}
    if any(issubclass(kind, (BasicBlock, Bottleneck)) for kind in blocks):
        return [ResNetCanonizer()]
    if any(issubclass(kind, MBConvBlock) for kind in blocks):
        if any(isinstance(sub, MBConvBlock) and sub.has_se for sub in module.modules()):
            raise ExplainError("LRP has no rule for the squeeze-and-excitation gates of this EfficientNet "
                               "(only EfficientNet-Lite, which has none)")
        return [EfficientNetLiteCanonizer(module)]
    return [SequentialMergeBatchNorm()]


class EfficientNetLiteCanonizer(CompositeCanonizer):
    """Merges each batch norm of an EfficientNet-Lite (efficientnet_lite_pytorch) into the convolution
    it follows, and routes each MBConv block's skip addition through a zennit `Sum`."""

    def __init__(self, module: nn.Module):
        super().__init__((ExactNamedMergeBatchNorm(_batch_norm_pairs(module)), MBConvSumCanonizer()))


class ExactNamedMergeBatchNorm(NamedMergeBatchNorm):
    """zennit's NamedMergeBatchNorm, whose merged batch norms compute the identity exactly: zennit leaves
    them dividing by sqrt(1 + eps), which EfficientNet-Lite's eps = 1e-3 over its 49 batch norms turns
    into logits about 2% off."""

    @staticmethod
    def merge_batch_norm(modules: list[nn.Module], batch_norm: nn.BatchNorm2d) -> None:
        NamedMergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var, 1 - batch_norm.eps)


def _batch_norm_pairs(module: nn.Module) -> list[tuple[tuple[str], str]]:
    """[((conv name,), batch norm name)] for NamedMergeBatchNorm: the stem, every block, the head. The
    head's batch norm may sit inside an nn.Sequential with its activation (see models.py)."""
    pairs = []
    for name, sub in module.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(sub, MBConvBlock):
            steps = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
            pairs += [((prefix + conv,), prefix + norm) for conv, norm in steps if hasattr(sub, conv)]
        elif isinstance(sub, EfficientNet):
            head = next(f"_bn1.{inner}".rstrip(".") for inner, norm in sub._bn1.named_modules()
                        if isinstance(norm, nn.BatchNorm2d))
            pairs += [((prefix + "_conv_stem",), prefix + "_bn0"), ((prefix + "_conv_head",), prefix + head)]
    return pairs


class MBConvSumCanonizer(AttributeCanonizer):
    """Gives every MBConvBlock a `canonizer_sum` and a forward that adds its skip connection through it
    (as zennit's ResNetBasicBlockCanonizer does for ResNets). Its forward has no squeeze-and-excitation:
    `canonizers_for` refuses blocks with one."""

    def __init__(self):
        super().__init__(self._attribute_map)

    @classmethod
    def _attribute_map(cls, name: str, module: nn.Module) -> dict | None:
        if not isinstance(module, MBConvBlock):
            return None
        return {"forward": cls.forward.__get__(module), "canonizer_sum": Sum()}

    @staticmethod
    def forward(self, inputs: torch.Tensor, drop_connect_rate: float | None = None) -> torch.Tensor:
        """MBConvBlock.forward without squeeze-and-excitation, its `x + inputs` summed by a Sum module."""
        x = inputs
        if self._block_args.expand_ratio != 1:
            x = self._swish(self._bn0(self._expand_conv(inputs)))
        x = self._swish(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        args = self._block_args
        if self.id_skip and args.stride == 1 and args.input_filters == args.output_filters:
            if drop_connect_rate:
                x = drop_connect(x, p=drop_connect_rate, training=self.training)
            x = self.canonizer_sum(torch.stack([inputs, x], dim=-1))
        return x
