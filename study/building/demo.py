"""The demo: a small CNN trained on the bundled Fashion-MNIST subset, its PV decoder, the `demo`
study built by `build_study`, a researcher login, and the gallery's ImageNet explanations.

Fashion-MNIST stores light garments on black; the demo inverts them back to the product photos they
came from (dark garments on white), and the classifier learns from those, so that the PV paper's
white mask keeps the garment where the explanation points and fades the rest to white. Its Grad-CAM
layer is the last convolutional block `features.block3` (an 8x8 map for the 32x32 input). Its PV decoder
inverts the 128 numbers the classifier decides from (`classifier.0`, the block's global average): the
PV paper inverts ResNet-50's last block, fewer numbers than the image and features made for the class,
but this small CNN's last block holds 8,192 numbers for a 1,024-pixel image, and a decoder of it copies
the image (on a wrong prediction PV then showed the true object: mean |PV - Grad-CAM| 0.022, r 0.94 over
the 14 wrong items; from the pooled vector 0.056 and 0.73, and PV redraws the predicted class).

Every step is cached under settings.EXPLAINER_CACHE_DIR (keyed by its inputs), so a second run
only checks what is there.
"""

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from explainers import load_model, predict
from explainers.cache import MapCache
from explainers.classifier import train_classifier
from explainers.nets import SmallCNN
from explainers.precompute import precompute
from study.models import Study
from explainers.pv import MIN_PSNR_MARGIN_DB, MIN_SSIM_MARGIN
from study.building.build import build_study
from study.building.decoder import decoder_cache_path, ensure_decoder
from study.building.request import BuildRequest

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "fashion_mnist_subset.npz"
SLUG = "demo"
# Only for the local demo (DEBUG=1 on 127.0.0.1): a fixed, documented login.
RESEARCHER, PASSWORD = "researcher", "explainlab-demo"
TRAINING = {
    "size": 32,
    "mean": (0.714,) * 3,  # of the inverted images
    "std": (0.353,) * 3,
    "epochs": 10,
    "batch_size": 64,
    "lr": 3e-3,
    "seed": 0,
}
DECODER_EPOCHS = 8
DECODER_IMAGES = 2000  # of the 5,000 training images: enough for a decoder of 32x32 images
TARGET_LAYER = SmallCNN.default_target_layer  # features.block3: (128, 8, 8) for 32x32 inputs
DECODER_LAYER = "classifier.0"  # the PV decoder inverts the pooled (128, 1, 1) features (module docstring)
DECODER_MARGINS = (MIN_SSIM_MARGIN, MIN_PSNR_MARGIN_DB)  # the quality gate: SSIM and PSNR over the mean image


@dataclass(frozen=True)
class DemoClassifier:
    spec_path: Path  # a model spec for explainers.load_model
    test_accuracy: float
    trained_now: bool


@dataclass(frozen=True)
class DemoResult:
    study: Study
    built_now: bool
    classifier: DemoClassifier
    decoder_path: Path
    decoder_ssim: float | None  # held-out SSIM of the decoder, when trained now
    mean_image_ssim: float | None  # the mean-image baseline on the same held-out images
    gallery_entries: int


def demo_dir() -> Path:
    return Path(settings.EXPLAINER_CACHE_DIR) / "demo"


def fixture_data() -> dict[str, np.ndarray]:
    """The bundled subset with its images inverted to dark garments on white, (N, 28, 28) uint8."""
    with np.load(FIXTURE) as data:
        return {key: 255 - data[key] if key.startswith("x_") else data[key] for key in data.files}


def ensure_classifier(progress: bool = True) -> DemoClassifier:
    """Train the demo SmallCNN (seeded, CPU) unless a checkpoint for the same data and settings is cached."""
    settings_key = json.dumps(TRAINING | {"target_layer": TARGET_LAYER, "inverted": True}, sort_keys=True)
    key = hashlib.sha256(FIXTURE.read_bytes() + settings_key.encode()).hexdigest()[:16]
    data = fixture_data()
    folder = demo_dir() / f"classifier-{key}"
    return ensure_trained(folder, data, TRAINING, "fashion-mnist-small-cnn", progress)


def ensure_trained(folder: Path, data: dict, training: dict, name: str,
                   progress: bool = True) -> DemoClassifier:
    """A SmallCNN trained with `training` on `data` (fixture_data's keys) and saved in `folder` with its model
    spec, unless `folder` already holds one."""
    if (folder / "spec.json").is_file():
        result = json.loads((folder / "result.json").read_text())
        return DemoClassifier(folder / "spec.json", result["test_accuracy"], trained_now=False)
    model = SmallCNN(num_classes=len(data["class_names"]))
    result = train_classifier(
        model,
        (data["x_train"], data["y_train"]),
        (data["x_test"], data["y_test"]),
        progress=progress,
        **training,
    )
    spec = {
        "arch": "small_cnn",
        "checkpoint": "model.pt",
        "num_classes": len(data["class_names"]),
        "class_names": [str(c) for c in data["class_names"]],
        "input_size": training["size"],
        "mean": training["mean"],
        "std": training["std"],
        "target_layer": TARGET_LAYER,
        "grayscale": True,
        "name": name,
    }
    with StagedFolder(folder) as staging:
        torch.save(model.state_dict(), staging / "model.pt")
        (staging / "spec.json").write_text(json.dumps(spec, indent=2))
        (staging / "result.json").write_text(json.dumps(asdict(result) | {"training": training}, indent=2))
    return DemoClassifier(folder / "spec.json", result.test_accuracy, trained_now=True)


def ensure_dataset() -> Path:
    """The 1,000 test images (dark on white) as PNG files with a labels.csv: the demo study's data set."""
    data = fixture_data()
    key = hashlib.sha256(FIXTURE.read_bytes()).hexdigest()[:16]
    labels = [str(data["class_names"][label]) for label in data["y_test"]]
    return ensure_image_folder(demo_dir() / f"fashion-mnist-test-inverted-{key}", data["x_test"], labels)


def ensure_image_folder(folder: Path, images: np.ndarray, labels: list[str]) -> Path:
    """(N, H, W) uint8 images as test_0000.png, ... with a labels.csv in `folder`, unless it has one."""
    if (folder / "labels.csv").is_file():
        return folder
    with StagedFolder(folder) as staging:
        rows = ["image,labels"]
        for i, (pixels, label) in enumerate(zip(images, labels)):
            name = f"test_{i:04d}.png"
            Image.fromarray(pixels).save(staging / name)
            rows.append(f"{name},{label}")
        (staging / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def ensure_demo_decoder(spec_path: Path, progress: bool = True):
    """The demo classifier's PV decoder, trained on 2,000 training images unless cached;
    returns (path, TrainResult or None when cached)."""
    model = load_model(spec_path)
    path = decoder_cache_path(model, DECODER_LAYER or None)
    images = [np.ascontiguousarray(x) for x in fixture_data()["x_train"][:DECODER_IMAGES]]
    return path, ensure_decoder(
        model, images, path, DECODER_EPOCHS, seed=0, device="cpu", progress=progress,
        layer=DECODER_LAYER or None, margins=DECODER_MARGINS,
    )


def ensure_researcher() -> tuple[str, str]:
    """The demo's staff login (created, or its password reset to the documented one); DEBUG=1 only."""
    if not settings.DEBUG:
        raise ImproperlyConfigured("the demo login (a known password) is only made with DEBUG=1")
    user, _ = get_user_model().objects.get_or_create(username=RESEARCHER)
    user.is_staff = user.is_superuser = True
    user.set_password(PASSWORD)
    user.save()
    return RESEARCHER, PASSWORD


def disable_demo_password() -> bool:
    """With DEBUG=0: make the demo login's known password unusable if a database still holds it."""
    user = get_user_model().objects.filter(username=RESEARCHER).first()
    if user is None or not user.check_password(PASSWORD):
        return False
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return True


def build_demo(progress: bool = True, owner_id: int | None = None) -> DemoResult:
    """Everything the demo needs, the study owned by `owner_id`; leaves an identical existing demo study
    alone (but gives it that owner)."""
    classifier = ensure_classifier(progress)
    dataset = ensure_dataset()
    decoder_path, decoder_result = ensure_demo_decoder(classifier.spec_path, progress)
    request = BuildRequest(
        slug=SLUG,
        model=str(classifier.spec_path),
        dataset=dataset,
        arms=("gradcam", "pv"),
        n_correct=16,
        n_incorrect=14,
        seed=0,
        decoder=decoder_path,
        decoder_layer=DECODER_LAYER,
        decoder_min_ssim_margin=DECODER_MARGINS[0],
        decoder_min_psnr_margin=DECODER_MARGINS[1],
        title="Demo: what did the Fashion-MNIST classifier predict?",
        owner_id=owner_id,
        open=True,  # the demo is for trying, not for recruiting
    )
    study, built_now = build_or_keep(request, progress)
    return DemoResult(
        study=study,
        built_now=built_now,
        classifier=classifier,
        decoder_path=decoder_path,
        decoder_ssim=decoder_result.final.val_ssim if decoder_result else None,
        mean_image_ssim=decoder_result.mean_image_ssim if decoder_result else None,
        gallery_entries=len(ensure_gallery(progress)),
    )


def build_or_keep(request: BuildRequest, progress: bool = True) -> tuple[Study, bool]:
    """(study, built now): `request`'s study, rebuilt unless one with its slug and build key exists (that one
    is left alone but given the request's owner)."""
    existing = Study.objects.filter(slug=request.slug).first()
    if existing and existing.provenance.get("build_key") == request.key():
        Study.objects.filter(pk=existing.pk).update(owner_id=request.owner_id)
        existing.refresh_from_db()
        return existing, False
    return build_study(replace(request, replace=existing is not None), progress=progress), True


class StagedFolder:
    """Write a cache folder under a temporary name and rename it into place on success."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.partial")

    def __enter__(self) -> Path:
        self.path.mkdir(parents=True)
        return self.path

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None and not self.folder.exists():
            os.replace(self.path, self.folder)
        shutil.rmtree(self.path, ignore_errors=True)


GALLERY_METHODS = ("gradcam", "gradcam++", "layercam", "integrated_gradients")


@dataclass(frozen=True)
class GalleryEntry:
    """One photo explained by the bundled EfficientNet-Lite0: its top-5 and a cache key per method."""

    name: str
    credit: str
    top5: tuple[tuple[str, float], ...]  # (ImageNet class, probability in [0, 1])
    maps: tuple[tuple[str, str], ...]  # (method, key in the explainer cache)


def gallery_photos() -> dict[str, tuple[np.ndarray, str]]:
    """Real photos shipped with scikit-image and scikit-learn: name -> ((H, W, 3) uint8, credit)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {
        name: (getattr(skimage.data, name)(), credit)
        for name, credit in [
            ("chelsea", "scikit-image, CC0, Stefan van der Walt"),
            ("coffee", "scikit-image, CC0, Rachel Michetti"),
            ("astronaut", "scikit-image, public domain, NASA"),
            ("rocket", "scikit-image, public domain, SpaceX"),
        ]
    }
    sample = load_sample_images()
    for path, image in zip(sample.filenames, sample.images):
        photos[Path(path).stem] = (image, "scikit-learn, CC BY 2.0, via Flickr (see load_sample_images)")
    return photos


def gallery_dir() -> Path:
    return Path(settings.EXPLAINER_CACHE_DIR) / "gallery"


def ensure_gallery(progress: bool = True) -> list[GalleryEntry]:
    """Explain each gallery photo with every GALLERY_METHODS method (cached by `precompute`) and
    record its top-5; returns the entries, also written to gallery/manifest.json."""
    manifest = gallery_dir() / "manifest.json"
    if manifest.is_file():
        return read_gallery()
    model = load_model("efficientnet-lite0")
    photos = gallery_photos()
    paths = []
    for name, (pixels, _) in photos.items():
        path = gallery_dir() / "photos" / f"{name}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            Image.fromarray(pixels).save(partial, format="PNG")
            os.replace(partial, path)
        paths.append(path)
    records = precompute(
        model,
        paths,
        GALLERY_METHODS,
        device="cpu",
        cache_dir=settings.EXPLAINER_CACHE_DIR,
        batch_size=8,
        progress=progress,
    )
    probabilities = predict(model, model.preprocess(paths)).cpu()
    keys = {(r.image, r.method): r.key for r in records}
    entries = []
    for path, p, (name, (_, credit)) in zip(paths, probabilities, photos.items()):
        best = p.topk(5)
        top5 = tuple(
            (model.class_names[int(c)], round(float(v), 4)) for v, c in zip(best.values, best.indices)
        )
        maps = tuple((method, keys[(path, method)]) for method in GALLERY_METHODS)
        entries.append(GalleryEntry(name, credit, top5, maps))
    partial = manifest.with_name(f".{manifest.name}.{uuid.uuid4().hex}.tmp")
    partial.write_text(json.dumps([asdict(entry) for entry in entries], indent=2))
    os.replace(partial, manifest)
    return entries


def read_gallery() -> list[GalleryEntry]:
    """The gallery written by `ensure_gallery`, or [] before the demo was built."""
    manifest = gallery_dir() / "manifest.json"
    if not manifest.is_file():
        return []
    return [
        GalleryEntry(e["name"], e["credit"], tuple(map(tuple, e["top5"])), tuple(map(tuple, e["maps"])))
        for e in json.loads(manifest.read_text())
    ]


def gallery_file(key: str, render: str) -> Path | None:
    """The PNG `render` ("overlay" or "mask") of a cached map (made on first request), or None."""
    entry = MapCache(settings.EXPLAINER_CACHE_DIR).get(key)
    return entry.render(render) if entry else None
