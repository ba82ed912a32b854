"""Perception Visualization: decoders that invert a model's features, and PV images (paper eq. 2)."""

from .compare import DecoderComparison, compare_decoders, decoder_quality, pearson, reconstruct
from .compose import compose_pv
from .decoder import Decoder, DecoderConfig
from .encoder import Encoder
from .errors import PVError
from .images import pv_images
from .loss import PVLoss, psnr, ssim
from .quality import (
    MIN_PSNR_MARGIN_DB,
    MIN_SSIM_MARGIN,
    DecoderQuality,
    DecoderQualityError,
    check_quality,
    mean_image_scores,
)
from .train import EpochStats, TrainResult, encoder_of, image_files, load_decoder, load_images, train_decoder

__all__ = [
    "Decoder",
    "DecoderComparison",
    "DecoderConfig",
    "DecoderQuality",
    "DecoderQualityError",
    "Encoder",
    "EpochStats",
    "MIN_PSNR_MARGIN_DB",
    "MIN_SSIM_MARGIN",
    "PVError",
    "PVLoss",
    "TrainResult",
    "check_quality",
    "compare_decoders",
    "decoder_quality",
    "compose_pv",
    "encoder_of",
    "image_files",
    "load_decoder",
    "load_images",
    "mean_image_scores",
    "pearson",
    "psnr",
    "pv_images",
    "reconstruct",
    "ssim",
    "train_decoder",
]
