"""Architectures of our own that `explainers.models.load_model` knows besides torchvision's."""
from collections import OrderedDict

from torch import nn


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A compact classifier for small images (the demo's Fashion-MNIST model).

    (B, 3, H, W) -> (B, num_classes) logits, H and W multiples of 4. The default target layer,
    `features.block3`, gives (B, 4 * width, H / 4, W / 4) activations. Its ReLUs are in-place.
    """

    default_target_layer = "features.block3"

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("block1", _conv_block(3, width)),
            ("pool1", nn.MaxPool2d(2)),
            ("block2", _conv_block(width, 2 * width)),
            ("pool2", nn.MaxPool2d(2)),
            ("block3", _conv_block(2 * width, 4 * width)),
        ]))
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(4 * width, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


ARCHITECTURES = {"small_cnn": SmallCNN}
