"""Perception Visualization: decoders that invert a model's features, and PV images (paper eq. 2)."""

from .compare import DecoderComparison, compare_decoders, pearson
from .compose import compose_pv
from .decoder import Decoder, DecoderConfig
from .encoder import Encoder
from .errors import PVError
from .images import pv_images
from .loss import PVLoss, psnr, ssim
from .train import EpochStats, TrainResult, encoder_of, image_files, load_decoder, load_images, train_decoder

__all__ = [
    "Decoder",
    "DecoderComparison",
    "DecoderConfig",
    "Encoder",
    "EpochStats",
    "PVError",
    "PVLoss",
    "TrainResult",
    "compare_decoders",
    "compose_pv",
    "encoder_of",
    "image_files",
    "load_decoder",
    "load_images",
    "pearson",
    "psnr",
    "pv_images",
    "ssim",
    "train_decoder",
]
