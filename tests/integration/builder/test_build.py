"""build_study end to end on a tiny real classifier: the paper's rules, options, stimuli, provenance,
determinism, and nothing created on any error."""

from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image

from explainers import load_model, predict
from study.jobs import JobCancelled
from study.models import Arm, Item, Stimulus, Study
from study.models.study import CANT_TELL
from study.building.build import build_study
from study.building.request import BuildError, BuildRequest
from study.building.datasets import DatasetError

pytestmark = pytest.mark.django_db


def request_for(spec, dataset, decoder=None, **fields) -> BuildRequest:
    defaults = dict(
        slug="s1",
        model=str(spec),
        dataset=dataset,
        arms=("gradcam",),
        n_correct=4,
        n_incorrect=3,
        seed=7,
        decoder=decoder,
        # The decoders here train for seconds and cannot beat the mean image: no gate (test_decoder_gate.py)
        decoder_min_ssim_margin=-1.0,
        decoder_min_psnr_margin=-100.0,
    )
    return BuildRequest(**(defaults | fields))


def model_verdicts(spec, dataset: Path, names: list[str]) -> dict[str, tuple[str, set[str]]]:
    """The model's top-1 and predicted set for each named image, computed here independently."""
    model = load_model(spec)
    folder = dataset / "JPEGImages" if (dataset / "JPEGImages").is_dir() else dataset
    probabilities = predict(model, model.preprocess([folder / name for name in names]))
    verdicts = {}
    for name, p in zip(names, probabilities):
        top1 = model.class_names[int(p.argmax())]
        chosen = {model.class_names[i] for i in torch.nonzero(p >= model.threshold).flatten().tolist()}
        verdicts[name] = (top1, (chosen or {top1}) if model.multi_label else {top1})
    return verdicts


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


def check_options(item: Item) -> None:
    assert len(item.options) == 5 and len(set(item.options)) == 5
    assert item.options[0] == item.model_prediction and item.options[-1] == CANT_TELL
    others = set(item.true_labels) - {item.model_prediction}
    assert others <= set(item.options)  # at most three other true labels here, so all are offered


def test_csv_study_keeps_top1_right_and_wrong_items_with_stimuli_per_arm(
    tiny_spec, tiny_decoder, csv_dataset, isolated_media
):
    study = build_study(
        request_for(tiny_spec, csv_dataset, tiny_decoder, arms=("gradcam", "pv")), progress=False
    )
    # A draft, opened from the study page once its consent and redirect are reviewed; the consent says what
    # is stored (Prolific IDs are, and are exported).
    assert study.status == Study.Status.DRAFT
    assert "nothing that identifies you" not in study.consent_text
    assert "Prolific ID" in study.consent_text and study.consent_text.startswith("<p>")
    items = list(study.items.all())
    assert sum(i.model_correct for i in items) == 4 and sum(not i.model_correct for i in items) == 3
    verdicts = model_verdicts(tiny_spec, csv_dataset, [i.name for i in items])
    for item in items:
        top1, _ = verdicts[item.name]
        assert item.model_prediction == top1
        assert item.model_correct == (top1 in item.true_labels)
        check_options(item)
    arms = list(study.arms.all())
    assert [a.technique for a in arms] == ["gradcam", "pv"]
    for arm in arms:
        assert "example below" in arm.intro_html and Path(arm.example_image.path).is_file()
    assert Stimulus.objects.filter(item__study=study).count() == 2 * len(items)
    for stimulus in Stimulus.objects.filter(item__study=study):
        with Image.open(stimulus.image.path) as picture:
            assert picture.size == (224, 224) and picture.mode == "RGB"
        assert stimulus.provenance["target"] == stimulus.item.model_prediction
    gradcam, pv = (Stimulus.objects.filter(item=items[0], arm=arm).get().image.path for arm in arms)
    assert Path(gradcam).read_bytes() != Path(pv).read_bytes()
    assert study.provenance["model"]["weights_sha256"] == load_model(tiny_spec).weights_hash
    assert study.provenance["seed"] == 7 and study.provenance["dataset"]["qualifying_incorrect"] >= 3
    assert set(study.provenance["versions"]) >= {"torch", "django"}


def test_gradcam_stimulus_is_the_image_masked_on_white(tiny_spec, csv_dataset, isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, n_correct=1, n_incorrect=0), progress=False)
    item = study.items.get()
    with Image.open(item.image.path) as image, Image.open(item.stimuli.get().image.path) as stimulus:
        original = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32)).reshape(-1, 3)
        masked = torch.from_numpy(np.asarray(stimulus, dtype=np.float32)).reshape(-1, 3)
    # m * image + (1 - m) * 255 per pixel: never darker than the image, white where m = 0.
    assert bool((masked >= original - 1).all()) and bool((masked == 255).all(dim=1).any())


def test_voc_multi_label_items_follow_the_set_rules(tiny_multi_spec, voc_dataset, isolated_media):
    study = build_study(request_for(tiny_multi_spec, voc_dataset, n_correct=3, n_incorrect=3), progress=False)
    items = list(study.items.all())
    verdicts = model_verdicts(tiny_multi_spec, voc_dataset, [i.name for i in items])
    for item in items:
        top1, predicted = verdicts[item.name]
        assert item.model_prediction == top1
        if item.model_correct:
            assert predicted == set(item.true_labels)
        else:
            assert not predicted & set(item.true_labels)
        check_options(item)
    dataset = study.provenance["dataset"]  # some images are neither (partly right) and never qualify
    assert dataset["qualifying_correct"] + dataset["qualifying_incorrect"] < dataset["n_images"]


def test_same_seed_same_study_and_options_shared_by_every_arm(
    tiny_spec, tiny_decoder, csv_dataset, isolated_media
):
    def snapshot(study):
        return [
            (i.position, i.name, i.model_prediction, i.model_correct, i.options) for i in study.items.all()
        ]

    first = snapshot(
        build_study(request_for(tiny_spec, csv_dataset, tiny_decoder, arms=("gradcam", "pv")), progress=False)
    )
    again = snapshot(
        build_study(
            request_for(tiny_spec, csv_dataset, tiny_decoder, arms=("gradcam", "pv"), replace=True),
            progress=False,
        )
    )
    other = snapshot(build_study(request_for(tiny_spec, csv_dataset, slug="s2", seed=8), progress=False))
    assert first == again
    assert first != other
    # One option set per item, shown in every arm: each arm has a stimulus of every item.
    study = Study.objects.get(slug="s1")
    assert all(item.stimuli.count() == study.arms.count() for item in study.items.all())


def test_too_few_qualifying_items_say_how_many_and_create_nothing(tiny_spec, csv_dataset, isolated_media):
    with pytest.raises(BuildError, match=r"only \d+ misclassified images qualify, 50 requested"):
        build_study(request_for(tiny_spec, csv_dataset, n_incorrect=50), progress=False)
    assert not Study.objects.exists() and media_files(isolated_media) == []


def test_an_image_past_the_pixel_budget_is_named_before_it_is_decoded(
        tiny_spec, csv_dataset, isolated_media, settings):
    settings.IMAGE_MAX_PIXELS = 28 * 28 - 1  # the fashion images are 28 x 28
    with pytest.raises(DatasetError, match=r"img_000\.png: the image is 28 x 28 pixels \(0\.0 megapixels\), "
                                           r"past the limit of 0\.000783 megapixels per image; resize it"):
        build_study(request_for(tiny_spec, csv_dataset), progress=False)
    assert not Study.objects.exists() and media_files(isolated_media) == []


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "img_010.png").unlink(), r"line 12: image file .*img_010\.png is missing"),
        (
            lambda d: (d / "labels.csv").write_text("image,labels\nimg_000.png,Hat\n"),
            r"unknown label\(s\) \['Hat'\]",
        ),
        (lambda d: (d / "labels.csv").write_text("image,labels\n"), r"labels\.csv: no images listed"),
        (lambda d: (d / "img_003.png").write_bytes(b"not a png"), r"img_003\.png: cannot read the image"),
    ],
)
def test_bad_csv_data_sets_are_refused_through_the_command(
    tiny_spec, csv_dataset, isolated_media, damage, message
):
    damage(csv_dataset)
    with pytest.raises(CommandError, match=message):
        call_command(
            "build_study",
            "s1",
            "--model",
            str(tiny_spec),
            "--dataset",
            str(csv_dataset),
            "--arms",
            "gradcam",
            "--n-correct",
            "2",
            "--n-incorrect",
            "2",
        )
    assert not Study.objects.exists() and media_files(isolated_media) == []


def test_broken_voc_xml_is_refused_with_the_file_named(tiny_multi_spec, voc_dataset, isolated_media):
    (voc_dataset / "Annotations" / "000001.xml").write_text("<annotation>")
    with pytest.raises(CommandError, match=r"000001\.xml: broken XML"):
        call_command(
            "build_study",
            "s1",
            "--model",
            str(tiny_multi_spec),
            "--dataset",
            str(voc_dataset),
            "--arms",
            "gradcam",
        )
    assert not Study.objects.exists()


def test_a_failure_while_saving_leaves_no_rows_and_no_files(
    tiny_spec, csv_dataset, isolated_media, monkeypatch
):
    calls = []

    def failing_bulk_create(objs, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(objs, *args, **kwargs)

    original = Stimulus.objects.bulk_create
    monkeypatch.setattr(Stimulus.objects, "bulk_create", failing_bulk_create)
    with pytest.raises(RuntimeError, match="disk full"):
        build_study(request_for(tiny_spec, csv_dataset), progress=False)
    assert not Study.objects.exists() and not Item.objects.exists() and not Arm.objects.exists()
    assert media_files(isolated_media) == []


def test_existing_slug_is_refused_unless_replaced(tiny_spec, csv_dataset, isolated_media):
    build_study(request_for(tiny_spec, csv_dataset, n_correct=1, n_incorrect=1), progress=False)
    with pytest.raises(BuildError, match="already exists; pass --replace"):
        build_study(request_for(tiny_spec, csv_dataset, n_correct=1, n_incorrect=1), progress=False)
    build_study(request_for(tiny_spec, csv_dataset, n_correct=2, n_incorrect=1, replace=True), progress=False)
    assert Study.objects.get(slug="s1").items.count() == 3


def test_unknown_arm_is_refused_before_any_work(tiny_spec, csv_dataset):
    with pytest.raises(CommandError, match="unknown arm technique"):
        call_command(
            "build_study",
            "s1",
            "--model",
            str(tiny_spec),
            "--dataset",
            str(csv_dataset),
            "--arms",
            "gradcam,telepathy",
        )


def test_an_interrupted_decoder_training_leaves_no_decoder_behind(tiny_spec, fashion, tmp_path, monkeypatch):
    from study.building import decoder

    def interrupted(model, images, out_path, **kwargs):
        Path(out_path).write_bytes(b"one epoch of a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(decoder, "train_decoder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decoder.ensure_decoder(load_model(tiny_spec), list(fashion["x_train"][:8]), tmp_path / "d.pt", 1, 0)
    assert list(tmp_path.iterdir()) == []


def test_build_trains_and_caches_a_decoder_when_none_is_given(
    tiny_spec, csv_dataset, isolated_media, settings
):
    study = build_study(
        request_for(tiny_spec, csv_dataset, arms=("pv",), n_correct=1, n_incorrect=1, decoder_epochs=1),
        progress=False,
    )
    decoder = Path(study.provenance["decoder"]["path"])
    assert decoder.is_file() and decoder.is_relative_to(settings.EXPLAINER_CACHE_DIR)
    assert study.items.count() == 2 and Stimulus.objects.filter(item__study=study).count() == 2


@pytest.mark.parametrize("stop_at", ["classifying the images", "training the PV decoder",
                                     "rendering the Perception Visualization stimuli"])
def test_report_hears_every_stage_in_order_and_stopping_in_it_leaves_nothing(
    tiny_spec, csv_dataset, isolated_media, settings, stop_at
):
    request = request_for(tiny_spec, csv_dataset, arms=("gradcam", "pv"), decoder_epochs=1, batch_size=4)
    heard = []
    study = build_study(request, progress=False, report=lambda *call: heard.append(call))
    stages = list(dict.fromkeys(message for _, _, message in heard))
    assert stages == ["classifying the images", "training the PV decoder", "rendering the Grad-CAM stimuli",
                      "rendering the Perception Visualization stimuli"]
    for stage in stages:
        counts = [(done, total) for done, total, message in heard if message == stage]
        assert counts == sorted(counts) and all(0 <= done <= total for done, total in counts)
        # named as it starts, before its first batch (the decoder's steps are counted once training starts)
        assert counts[0] == ((0, 0) if stage == "training the PV decoder" else (0, counts[-1][1]))
        assert counts[-1][0] == counts[-1][1] and len(counts) > 1  # batch by batch, to the end
    assert heard[len(heard) - 1][:2] == (study.items.count() + 1,) * 2  # the items and the intro's example
    assert [t for d, t, m in heard if m == "classifying the images"][0] == 60

    # A second build, stopped by its report in the middle of a stage: no rows or files, and a decoder
    # only once its training has ended (a cache that a retry uses), never a partial one.
    Study.objects.all().delete()
    for path in media_files(isolated_media):
        path.unlink()
    settings.EXPLAINER_CACHE_DIR = Path(settings.EXPLAINER_CACHE_DIR).parent / "fresh-cache"

    def stop(done, total, message):
        if message == stop_at and done > 1:
            raise JobCancelled

    with pytest.raises(JobCancelled):
        build_study(request, progress=False, report=stop)
    assert not Study.objects.exists() and not Item.objects.exists() and not Stimulus.objects.exists()
    assert media_files(isolated_media) == []
    decoders = [path.name for path in media_files(settings.EXPLAINER_CACHE_DIR)]
    trained = stop_at.startswith("rendering")
    assert decoders == ([f"{load_model(tiny_spec).weights_hash[:20]}-features.block3.pt"] if trained else [])


def test_a_study_created_by_another_build_meanwhile_is_kept_and_this_build_writes_nothing(
        tiny_spec, csv_dataset, isolated_media, django_user_model):
    """Two builds of one slug: the one that saves second neither replaces nor deletes the other's study."""
    first_owner = django_user_model.objects.create_user("first", password="pw-Secret-123")
    second_owner = django_user_model.objects.create_user("second", password="pw-Secret-123")
    created = []

    def the_other_build_saves(done, total, message):
        if message.startswith("rendering") and not created:
            created.append(Study.objects.create(slug="s1", title="The first build's", owner=first_owner))

    with pytest.raises(BuildError, match=r"study 's1' was created by another build while this one ran"):
        build_study(request_for(tiny_spec, csv_dataset, owner_id=second_owner.pk), progress=False,
                    report=the_other_build_saves)
    kept = Study.objects.get()
    assert kept.pk == created[0].pk and kept.owner == first_owner and kept.title == "The first build's"
    assert media_files(isolated_media) == []


def test_replace_rechecks_participants_when_it_saves(tiny_spec, csv_dataset, isolated_media):
    """--replace of a study that gains a participant while the build runs refuses at the save."""
    from tests.factories import make_study

    make_study("s1")

    def a_participant_arrives(done, total, message):
        study = Study.objects.get(slug="s1")
        if message.startswith("rendering") and not study.participants.exists():
            study.participants.create(arm=study.arms.first())

    with pytest.raises(BuildError, match=r"study 's1' has participants now; refusing to replace it"):
        build_study(request_for(tiny_spec, csv_dataset, replace=True), progress=False,
                    report=a_participant_arrives)
    assert Study.objects.get(slug="s1").participants.count() == 1
