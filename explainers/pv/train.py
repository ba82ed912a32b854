"""Train a PV decoder to invert a model's features, checkpointing every epoch; load it back safely."""

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.transforms import v2
from tqdm import tqdm

from explainers.images import IMAGE_SUFFIXES
from explainers.models import LoadedModel

from .decoder import Decoder, DecoderConfig
from .encoder import Encoder
from .errors import PVError
from .loss import DEFAULT_WEIGHTS, LossTerms, PVLoss, normalise_weights, psnr, ssim
from .quality import DecoderQuality, mean_image_scores

FORMAT = "explainlab-pv-decoder/1"

ImageSource = str | Path | Sequence[Path | Image.Image | np.ndarray]


@dataclass(frozen=True)
class EpochStats:
    """One epoch: mean training loss, and loss, SSIM and PSNR (dB) on the held-out images.

    Epoch 0 is the untrained decoder (train_loss is NaN)."""

    epoch: int
    train_loss: float
    val_loss: float
    val_ssim: float
    val_psnr: float


@dataclass(frozen=True)
class TrainResult:
    """Where the decoder was saved, the layer it inverts, the per-epoch history (from epoch 0, untrained),
    and the held-out SSIM and PSNR of the training set's mean image, the baseline a useful decoder must
    beat."""

    path: Path
    history: tuple[EpochStats, ...]
    mean_image_ssim: float  # baseline: SSIM of the training set's mean image against each held-out image
    n_train: int
    n_val: int
    mean_image_psnr: float  # baseline: PSNR (dB) of the same
    layer: str

    @property
    def final(self) -> EpochStats:
        return self.history[-1]

    @property
    def quality(self) -> DecoderQuality:
        """The final epoch's held-out scores beside the mean image's (see `quality.check_quality`)."""
        return DecoderQuality(
            self.final.val_ssim, self.final.val_psnr, self.mean_image_ssim, self.mean_image_psnr, self.n_val
        )


def encoder_of(model: LoadedModel, layer: str | None = None) -> Encoder:
    """The model truncated at `layer` (default: its target layer, the one its explanations are taken
    from), on the model's device, fed images in [0, 1] and normalised as it expects."""
    return Encoder(model.module, layer or model.target_layer, model.mean, model.std).to(model.device)


def image_files(folder: str | Path) -> list[Path]:
    """The image files under `folder` (recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PVError(f"image folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_images(source: ImageSource, size: int) -> torch.Tensor:
    """A folder, or image paths / PIL images / (H, W[, 3]) uint8 arrays -> (N, 3, size, size) uint8.

    Each image is converted to RGB and resized bilinearly (no crop), as `LoadedModel.preprocess` does.
    """
    if isinstance(source, (str, Path)):
        source = image_files(source)
    arrays = []
    for item in tqdm(source, desc="loading images", unit="image", disable=len(source) < 1000):
        try:
            if isinstance(item, (str, Path)):
                with Image.open(item) as opened:
                    image = opened.convert("RGB")
            else:
                image = (Image.fromarray(item) if isinstance(item, np.ndarray) else item).convert("RGB")
        except (OSError, UnidentifiedImageError, TypeError) as error:
            raise PVError(
                f"cannot read image {item if isinstance(item, (str, Path)) else type(item)}: {error}"
            ) from error
        arrays.append(np.asarray(image.resize((size, size), Image.BILINEAR)))
    if not arrays:
        raise PVError("no images found")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def train_decoder(
    model: LoadedModel,
    images: ImageSource,
    out_path: str | Path,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
    device: str = "auto",
    val_fraction: float = 0.1,
    augment: bool = True,
    resume: bool = False,
    loss_weights: tuple[float, float, float] = DEFAULT_WEIGHTS,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    layer: str | None = None,
) -> TrainResult:
    """Train a decoder D so that D(E(x)) reconstructs x, E the model frozen at `layer` (default: its
    target layer, the layer its explanations are taken from: the last convolutional block unless the
    model spec names another).
    A grey model (`model.grayscale`) gets a grey decoder, so its reconstructions have no colour fringes.

    Adam at `lr`; bfloat16 autocast on CUDA; a checkpoint at `out_path` after every epoch (written to a
    temporary name, then renamed). `resume` continues the checkpoint at `out_path`, if any, up to `epochs`
    in total. A seeded `val_fraction` of the images is held out; augmentation is random resized crops
    (60-100 % of the area) and horizontal flips.
    The model's weights, BatchNorm statistics and device are left as they were.
    `on_batch(steps_done, steps_in_all)` is called after each training step of this run (raise in it
    to stop: the checkpoint of the last whole epoch stays).
    """
    out_path = Path(out_path)
    weights = normalise_weights(loss_weights)
    layer = layer or model.target_layer
    if epochs < 1 or batch_size < 1 or not lr > 0 or not 0 < val_fraction < 1:
        raise PVError("epochs and batch_size must be >= 1, lr > 0 and 0 < val_fraction < 1")
    checkpoint = _read_checkpoint(out_path, model, layer) if resume and out_path.exists() else None
    if out_path.exists() and not resume:
        raise PVError(f"{out_path} already exists: pass resume to continue it, or remove it")
    run = _device(device)
    data = load_images(images, model.input_size)
    if len(data) < 2:
        raise PVError(f"need at least 2 images (one to train on, one held out), got {len(data)}")
    n_val = min(max(1, round(val_fraction * len(data))), len(data) - 1)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    val, train = data[order[:n_val]], data[order[n_val:]]
    settings = {"seed": seed, "n_images": len(data), "val_fraction": val_fraction, "loss_weights": weights}
    if checkpoint is not None and any(checkpoint[key] != value for key, value in settings.items()):
        raise PVError(
            f"cannot resume {out_path}: it was trained with other settings "
            f"({ {key: checkpoint[key] for key in settings} }, now {settings})"
        )

    original_device = model.device
    encoder = encoder_of(model, layer).to(run)
    try:
        with encoder.frozen():
            with torch.no_grad():
                latent_shape = tuple(encoder(_as_float(val[:1], run)).shape[1:])
            torch.manual_seed(seed)
            size = (model.input_size, model.input_size)
            decoder = Decoder(DecoderConfig(latent_shape, size, grayscale=model.grayscale)).to(run)
            decoder.weights_hash, decoder.layer = model.weights_hash, layer
            optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
            history: list[EpochStats] = []
            if checkpoint is not None:
                if checkpoint["decoder_config"] != decoder.config.as_dict():
                    raise PVError(
                        f"cannot resume {out_path}: its decoder has another shape "
                        f"({checkpoint['decoder_config']}, now {decoder.config.as_dict()})"
                    )
                decoder.load_state_dict(checkpoint["decoder_state"])
                optimizer.load_state_dict(checkpoint["optimizer_state"])
                history = [EpochStats(**stats) for stats in checkpoint["history"]]
            criterion = PVLoss(encoder, weights)
            mean_ssim, mean_psnr = mean_image_scores(
                train.float().mean(dim=0, keepdim=True).div(255).to(run), val, batch_size
            )
            if not history:  # epoch 0: the untrained decoder, the baseline the epochs are judged against
                history.append(
                    EpochStats(0, float("nan"), *_validate(decoder, criterion, val, batch_size, run))
                )
            crop = v2.RandomResizedCrop(model.input_size, scale=(0.6, 1.0), antialias=True)
            steps = -(-len(train) // batch_size)  # per epoch
            first = len(history)
            for epoch in range(first, epochs + 1):
                torch.manual_seed(seed * 100_003 + epoch)  # same shuffles and crops whether resumed or not
                done_before, steps_in_all = (epoch - first) * steps, (epochs + 1 - first) * steps
                on_step = (lambda step: on_batch(done_before + step, steps_in_all)) if on_batch else None
                train_loss = _train_epoch(
                    decoder,
                    criterion,
                    optimizer,
                    train,
                    batch_size,
                    run,
                    crop if augment else None,
                    f"epoch {epoch}/{epochs}",
                    progress,
                    on_step,
                )
                stats = EpochStats(epoch, train_loss, *_validate(decoder, criterion, val, batch_size, run))
                history.append(stats)
                _save(out_path, decoder, optimizer, history, model, settings)
                if progress:
                    tqdm.write(
                        f"epoch {epoch}: train loss {stats.train_loss:.4f}, held-out loss {stats.val_loss:.4f}, "
                        f"SSIM {stats.val_ssim:.4f} (mean image {mean_ssim:.4f}), "
                        f"PSNR {stats.val_psnr:.2f} dB (mean image {mean_psnr:.2f} dB)"
                    )
    finally:
        model.to(original_device)
    return TrainResult(out_path, tuple(history), mean_ssim, len(train), len(val), mean_psnr, layer)


def load_decoder(path: str | Path, model: LoadedModel) -> Decoder:
    """The decoder saved at `path`, in eval mode on the model's device, with the layer it inverts
    (`decoder.layer`); refuses any other model. The file is read with torch.load(weights_only=True): a
    state dict, never a pickled object."""
    checkpoint = _read_checkpoint(Path(path), model)
    try:
        decoder = Decoder(DecoderConfig(**checkpoint["decoder_config"]))
        decoder.load_state_dict(checkpoint["decoder_state"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise PVError(f"{path} is a damaged PV decoder checkpoint: {error}") from error
    decoder.weights_hash, decoder.layer = checkpoint["weights_hash"], checkpoint["target_layer"]
    return decoder.to(model.device).eval()


def _read_checkpoint(path: Path, model: LoadedModel, layer: str | None = None) -> dict:
    """The checkpoint at `path`, checked to be a decoder of `model` (same weights) inverting a layer of it
    (`layer`, when given)."""
    if not path.is_file():
        raise PVError(f"decoder checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a damaged or foreign file
        raise PVError(f"cannot read decoder checkpoint {path}: {error}") from error
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise PVError(f"{path} is not a PV decoder checkpoint")
    if checkpoint.get("weights_hash") != model.weights_hash:
        raise PVError(
            f"decoder {path} was trained for another model ({checkpoint.get('model_name')}, weights "
            f"{str(checkpoint.get('weights_hash'))[:12]}), not {model.name} "
            f"(weights {model.weights_hash[:12]})"
        )
    if layer is not None and checkpoint.get("target_layer") != layer:
        raise PVError(f"decoder {path} inverts layer {checkpoint.get('target_layer')!r}, not {layer!r}")
    try:
        model.module.get_submodule(str(checkpoint.get("target_layer")))
    except AttributeError:
        raise PVError(
            f"decoder {path} inverts {checkpoint.get('target_layer')!r}, not a layer of {model.name}"
        ) from None
    return checkpoint


def _save(path: Path, decoder: Decoder, optimizer, history, model: LoadedModel, settings: dict) -> None:
    checkpoint = {
        "format": FORMAT,
        "decoder_config": decoder.config.as_dict(),
        "decoder_state": decoder.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "history": [asdict(stats) for stats in history],
        "weights_hash": model.weights_hash,
        "target_layer": decoder.layer,
        "model_name": model.name,
        **settings,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(checkpoint, temporary)
    os.replace(temporary, path)


def train_step(
    decoder: Decoder, criterion: PVLoss, optimizer: torch.optim.Optimizer, x: torch.Tensor
) -> LossTerms:
    """One optimiser step of the decoder on a batch x (B, 3, H, W) in [0, 1]; bfloat16 autocast on CUDA.

    Returns the detached loss terms (tensors on x's device, so no synchronisation is forced)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        with torch.no_grad():
            z = criterion.encoder(x)
        terms = criterion(decoder(z), x, z)
    optimizer.zero_grad(set_to_none=True)
    terms.total.backward()
    optimizer.step()
    return LossTerms(*(term.detach() for term in (terms.total, terms.mse, terms.ssim, terms.dsim)))


def _train_epoch(decoder, criterion, optimizer, images, batch_size, device, crop, desc, progress,
                 on_step=None) -> float:
    decoder.train()
    order = torch.randperm(len(images))
    total = torch.zeros((), device=device)
    bar = tqdm(range(0, len(images), batch_size), desc=desc, unit="batch", leave=False, disable=not progress)
    for step, start in enumerate(bar):
        x = _as_float(images[order[start : start + batch_size]], device)
        if crop is not None:
            x = _augment(x, crop)
        terms = train_step(decoder, criterion, optimizer, x)
        total += terms.total * len(x)
        if on_step:
            on_step(step + 1)
        if progress and step % 10 == 0:  # reading the values waits for the GPU, so not at every step
            bar.set_postfix(
                loss=f"{terms.total:.4f}",
                mse=f"{terms.mse:.4f}",
                ssim=f"{-terms.ssim:.3f}",
                dsim=f"{terms.dsim:.4f}",
            )
    return total.item() / len(images)


@torch.no_grad()
def _validate(decoder, criterion, images, batch_size, device) -> tuple[float, float, float]:
    """Mean loss, SSIM and PSNR over the held-out images."""
    decoder.eval()
    loss = ssim_sum = psnr_sum = 0.0
    for start in range(0, len(images), batch_size):
        x = _as_float(images[start : start + batch_size], device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            z = criterion.encoder(x)
            y = decoder(z)
            loss += criterion(y, x, z).total.item() * len(x)
        ssim_sum += ssim(y, x).sum().item()
        psnr_sum += psnr(y, x).sum().item()
    return loss / len(images), ssim_sum / len(images), psnr_sum / len(images)


def _augment(x: torch.Tensor, crop: v2.RandomResizedCrop) -> torch.Tensor:
    """Per image: a random resized crop (60-100 % of the area) and a horizontal flip half the time."""
    x = torch.stack([crop(image) for image in x])
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def _as_float(images: torch.Tensor, device) -> torch.Tensor:
    return images.to(device, non_blocking=True).float().div_(255)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in {"cpu", "cuda"} or (name == "cuda" and not torch.cuda.is_available()):
        raise PVError(f"device must be auto, cpu or cuda (with a CUDA GPU present), got {name!r}")
    return torch.device(name)
