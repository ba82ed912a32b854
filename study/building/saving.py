"""Saving a built study: its provenance, and the study with its arms, items, stimuli and attention checks
in one transaction, as content-addressed media files that are removed again when saving fails."""

import hashlib
import io
import os
import platform
import uuid
from pathlib import Path

import django
import numpy as np
import torch
import torchvision
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F as DbF
from PIL import Image

from explainers import LoadedModel
from study.building.datasets import Dataset
from study.building.participant_texts import consent_text, intro_html
from study.building.rendering import DISPLAY_SIZE, example_pair, png_bytes
from study.building.request import BuildError, BuildRequest
from study.building.selection import Classified, attention_positions
from study.models import Arm, Item, Stimulus, Study
from study.models.study import CONTROL
from study.survey.designs import design_of
from study.survey.questionnaire import create_blocks, parse_questionnaire


def build_provenance(
    request: BuildRequest,
    model: LoadedModel,
    dataset: Dataset,
    decoder_path: Path | None,
    decoder_checks: dict | None,
    n_correct: int,
    n_incorrect: int,
    distractors: str,
) -> dict:
    """The study's provenance (JSON): build key and seed, model, data set with its numbers of
    qualifying correct and incorrect images, methods (the arms' explainers: a control arm has none), PV
    decoder and its checks, rendering, attention checks, distractors and library versions."""
    return {
        "build_key": request.key(),
        "seed": request.seed,
        "model": {
            "spec": request.model if isinstance(request.model, dict) else str(request.model),
            "name": model.name,
            "weights_sha256": model.weights_hash,
            "multi_label": model.multi_label,
            "threshold": model.threshold,
            "input_size": model.input_size,
            "target_layer": model.target_layer,
        },
        "dataset": {
            "path": str(dataset.root),
            "layout": dataset.layout,
            "n_images": len(dataset.images),
            "classes": list(dataset.classes),
            "qualifying_correct": n_correct,
            "qualifying_incorrect": n_incorrect,
        },
        "methods": {arm: request.method_params.get(arm, {}) for arm in request.arms if arm != CONTROL},
        "decoder": (
            {"path": str(decoder_path), "sha256": _file_hash(decoder_path), **decoder_checks}
            if decoder_path
            else None
        ),
        "rendering": {"display_size": DISPLAY_SIZE, "mask": "image * map + white * (1 - map)"}
        if request.rendering == "white_mask"
        else {"display_size": DISPLAY_SIZE, "overlay": "0.5 * image + 0.5 * jet(map)"},
        "attention_checks": {"n": request.attention_checks, "positions": list(request.attention_positions)},
        "distractors": {
            "mode": distractors,
            "requested": request.distractors,
            "classes": list(request.distractor_classes) if distractors == "subset" else None,
            "model_classes": len(model.class_names),
        },
        "versions": {
            "python": platform.python_version(),
            "django": django.get_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
        },
    }


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_study(
    request: BuildRequest,
    design_options: dict,
    block_options: dict,
    provenance: dict,
    chosen: list[Classified],
    options: list[list[str]],
    details: list[dict],
    displays: list[Image.Image],
    renders: dict[str, list[bytes]],
    example: Classified,
) -> Study:
    """Write the files (temporary names, then renamed) and the rows (one transaction); on any error
    remove the files this call created. `renders`: per explained arm, the stimuli of each item (class ->
    PNG), the example's last; a CONTROL arm gets no worked example, and no stimulus unless its design
    makes some (renders[CONTROL]: attention's blurred images). `details`: each item's Item.details (the
    design's part); `block_options`: the attention block's ({}: none)."""
    written: list[str] = []
    try:
        with transaction.atomic():
            _make_room(request)
            study = Study.objects.create(
                slug=request.slug,
                title=request.title or f"Study {request.slug}",
                consent_text=consent_text(len(chosen), CONTROL in request.arms, request.design,
                                          len(chosen) if block_options else 0),
                design=request.design,
                design_options=design_options,
                attention_block=block_options,
                status=Study.Status.OPEN if request.open else Study.Status.DRAFT,
                provenance=provenance,
                owner_id=request.owner_id,
                confidence_rating=request.confidence_rating,
            )
            create_blocks(study, parse_questionnaire(request.questionnaire))
            arms = []
            for position, technique in enumerate(request.arms):
                arm = Arm(
                    study=study,
                    name=technique,
                    technique=technique,
                    position=position,
                    intro_html=intro_html(technique, example.top1, request.rendering, request.design,
                                          design_options.get("k", 0)),
                )
                if not arm.is_control:
                    example_png = example_pair(displays[-1], renders[technique][-1][example.top1])
                    arm.example_image.name = _store("arms", example_png, written)
                arm.save()
                arms.append(arm)
            for position, (c, item_options, item_details) in enumerate(zip(chosen, options, details)):
                item = Item(
                    study=study,
                    position=position,
                    name=c.image.name,
                    model_prediction=c.top1,
                    true_labels=list(c.image.labels),
                    model_correct=bool(c.correct),
                    options=item_options,
                    details=item_details,
                )
                item.image.name = _store("items", png_bytes(displays[position]), written)
                item.save()
                Stimulus.objects.bulk_create(
                    [
                        Stimulus(
                            item=item,
                            arm=arm,
                            target=target,
                            image=_store("stimuli", png, written),
                            provenance={
                                "method": arm.technique,
                                "target": target,
                                "params": provenance["methods"].get(arm.technique, {}),
                            },
                        )
                        for arm in arms
                        if arm.technique in renders
                        for target, png in renders[arm.technique][position].items()
                    ]
                )
            return study
    except BaseException as error:
        for name in written:
            default_storage.delete(name)
        if isinstance(error, IntegrityError) and Study.objects.filter(slug=request.slug).exists():
            raise BuildError(f"study {request.slug!r} was created by another build while this one saved; "
                             "nothing was written (choose another slug)") from None
        raise


def add_attention_checks(
    study: Study, request: BuildRequest, checks: list[Classified], pngs: list[bytes], options: list[list[str]]
) -> None:
    """Insert the attention-check items at their positions (later questions move down), each showing its
    unmasked display image `pngs[i]` in every explained arm as the explanation of its prediction (a control
    arm shows the item's image alone, which is the same); the design's other explained classes (the other
    panels of distinction) get a blank white image. Call inside the study's transaction."""
    order: list = list(study.items.order_by("position"))
    positions = attention_positions(request, len(order) + len(checks))
    for position, check in zip(positions, zip(checks, pngs, options)):
        order.insert(position, check)
    Item.objects.filter(study=study).update(position=DbF("position") + len(order))  # free the slots
    arms = list(study.arms.all())
    written: list[str] = []
    try:
        for position, entry in enumerate(order):
            if isinstance(entry, Item):
                Item.objects.filter(pk=entry.pk).update(position=position)
                continue
            check, png, item_options = entry
            item = Item(study=study, position=position, name=check.image.name, model_prediction=check.top1,
                        true_labels=list(check.image.labels), model_correct=True, is_attention_check=True,
                        expected_option=check.top1, options=item_options)
            item.image.name = _store("items", png, written)
            item.save()
            names = {target: _store("stimuli", png if target == check.top1 else blank_png(png), written)
                     for target in design_of(study).explained_classes(check.top1, item_options)}
            Stimulus.objects.bulk_create([
                Stimulus(item=item, arm=arm, target=target, image=name,
                         provenance={"method": "attention_check", "target": target})
                for arm in arms
                if not arm.is_control
                for target, name in names.items()
            ])
        # the checks are questions too
        block = len(order) - len(checks) if study.attention_block else 0
        control = any(arm.is_control for arm in arms)
        study.consent_text = consent_text(len(order), control, study.design, block)
        study.save(update_fields=["consent_text"])
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise


def blank_png(png: bytes) -> bytes:
    """A white PNG of the size of the PNG `png`."""
    with Image.open(io.BytesIO(png)) as image:
        return png_bytes(Image.new("RGB", image.size, "white"))


def _make_room(request: BuildRequest) -> None:
    """Inside the saving transaction: delete the study of the slug only when it is to be replaced and still
    has no participant; BuildError when another build created it meanwhile (that study is kept)."""
    existing = Study.objects.select_for_update().filter(slug=request.slug).first()
    if existing is None:
        return
    if not request.replace:
        raise BuildError(f"study {request.slug!r} was created by another build while this one ran; "
                         "nothing was written (choose another slug)")
    if existing.participants.exists():
        raise BuildError(f"study {request.slug!r} has participants now; refusing to replace it")
    existing.delete()


def _store(folder: str, data: bytes, written: list[str]) -> str:
    """Save `data` under a content-addressed media name (temporary file, then rename); returns the name.
    Names of files this call created are appended to `written`."""
    name = f"{folder}/{hashlib.sha256(data).hexdigest()[:32]}.png"
    path = Path(default_storage.path(name))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        written.append(name)
    return name
