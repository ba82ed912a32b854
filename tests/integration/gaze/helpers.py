"""Small gaze sources on disk for import tests: stimuli, maps and fixation tables."""

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from django.utils import timezone

from study.models import GazeDataset, GazeFixations, GazeMap, GazeStimulus, Participant, Study, Trial


def image_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def stimulus_png(width: int = 16, height: int = 12, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return image_bytes(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def map_png(width: int = 16, height: int = 12, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed + 100)
    return image_bytes(rng.integers(1, 256, (height, width), dtype=np.uint8))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def good_files(n: int = 2) -> dict[str, bytes]:
    """n 16x12 stimuli, each with an 8-bit PNG map."""
    files = {}
    for i in range(n):
        files[f"stimuli/s{i}.png"] = stimulus_png(seed=i)
        files[f"fixation_maps/s{i}.png"] = map_png(seed=i)
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def media_files(media: Path) -> dict[str, bytes]:
    """Every file under MEDIA_ROOT with its content."""
    return {p.relative_to(media).as_posix(): p.read_bytes() for p in sorted(media.rglob("*")) if p.is_file()}


def db_state() -> list:
    return [
        list(model.objects.order_by("pk").values())
        for model in (GazeDataset, GazeStimulus, GazeMap, GazeFixations)
    ]


def answer_clicks(study: Study, clicks: dict[int, list], size: tuple[int, int] = (32, 32),
                  **fields) -> Participant:
    """A participant of `study` (completed unless told otherwise) who clicked `clicks` [[x, y, t_ms], ...] per
    item position on its image shown at `size` (W, H)."""
    fields.setdefault("status", Participant.Status.COMPLETED)
    if fields["status"] == Participant.Status.COMPLETED:
        fields["completed_at"] = timezone.now()
    participant = Participant.objects.create(study=study, arm=study.arms.first(), **fields)
    for place, (position, points) in enumerate(clicks.items()):
        item = study.items.get(position=position)
        Trial.objects.create(participant=participant, item=item, presented_position=place,
                             presented_options=item.options, chosen_option="clicked",
                             answered_at=timezone.now(),
                             details={"clicks": points, "width": size[0], "height": size[1]})
    return participant
