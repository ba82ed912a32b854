"""How a study's options are filled up after the prediction and the other true labels: the model's own next
most likely classes for the image (topk, the default above 50 classes), random classes of a researcher's
class subset, or random classes; chosen on the builder page and `build_study`, recorded in the provenance,
named by the analysis."""

import html
import io
import random
import zipfile
from pathlib import Path

import pytest
import skimage.data
import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from PIL import Image, ImageOps
from sklearn.datasets import load_sample_images

from explainers import load_model
from study import jobs
from study.models import Item, Job, Study
from study.models.study import CANT_TELL
from study.building.build import build_study
from study.building.request import BuildError, BuildRequest
from study.building.selection import distractor_mode
from study.building.options import compose_options
from tests.integration.study.test_analyze_study import answer_all
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def photo_dataset(folder: Path) -> Path:
    """Real photos (scikit-image, scikit-learn), each as shot, mirrored and cropped, labelled with the
    ImageNet class a person would name: the coffee and the rocket (ImageNet has no "rocket": missile) are
    mostly classified right, the tabby cat (as "Egyptian cat") and the palace (as "bell cote") wrong."""
    photos = {"coffee": (skimage.data.coffee(), "espresso"), "rocket": (skimage.data.rocket(), "missile"),
              "chelsea": (skimage.data.chelsea(), "tabby")}
    sample = load_sample_images()
    photos["china"] = (sample.images[sample.filenames.index(next(f for f in sample.filenames
                                                                 if f.endswith("china.jpg")))], "palace")
    folder.mkdir(parents=True)
    rows = ["image,labels"]
    for name, (pixels, label) in photos.items():
        image = Image.fromarray(pixels).convert("RGB")
        w, h = image.size
        for variant, shown in [("", image), ("_mirror", ImageOps.mirror(image)),
                               ("_crop", image.crop((w // 10, h // 10, w - w // 10, h - h // 10)))]:
            shown.save(folder / f"{name}{variant}.jpg", quality=95)
            rows.append(f"{name}{variant}.jpg,{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def zip_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, f"photos/{path.name}")
    return buffer.getvalue()


def page_form(dataset: bytes, **changes) -> dict:
    fields = {"slug": "photos", "title": "Photos", "model": "efficientnet-lite0", "input_size": "224",
              "threshold": "0.5", "arms": ["gradcam"], "rendering": "white_mask", "n_correct": "3",
              "n_incorrect": "2", "seed": "1", "attention_checks": "0", "attention_positions": "",
              "confidence_rating": "0", "questionnaire": "", "distractors": "auto",
              "dataset": SimpleUploadedFile("photos.zip", dataset, "application/zip")}
    return {k: v for k, v in (fields | changes).items() if v is not None}


def test_a_1000_class_model_offers_its_own_next_most_likely_classes_by_default(
    staff_client, tmp_path, jobs_inline, isolated_media
):
    folder = photo_dataset(tmp_path / "photos")
    with jobs_inline():
        response = staff_client.post("/r/build/", page_form(zip_of(folder)))
    job = Job.objects.get()
    assert response.status_code == 302 and job.state == "done", job.error
    study = Study.objects.get(slug="photos")
    assert study.provenance["distractors"] == {"mode": "topk", "requested": "auto", "classes": None,
                                               "model_classes": 1000}
    items = list(study.items.order_by("position"))
    model = load_model("efficientnet-lite0")
    with torch.no_grad():  # an independent pass: the module's logits, softmax, ranked
        logits = model.module(model.preprocess([Image.open(folder / i.name).convert("RGB") for i in items]))
    probabilities = torch.softmax(logits, dim=1)
    for item, p in zip(items, probabilities):
        ranking = [model.class_names[int(c)] for c in p.argsort(descending=True)]
        chance = 1 / len(ranking)
        truth = item.true_labels[0]
        assert item.options[0] == item.model_prediction == ranking[0] and item.options[-1] == CANT_TELL
        if item.model_correct:
            # the answer among the three classes the model found next most likely, each above chance
            assert item.options[1:4] == ranking[1:4], item.name
            assert all(p[model.class_names.index(o)] > chance for o in item.options[:4]), item.name
        else:  # the prediction, the true label, and the next most likely classes besides those two
            assert item.options[1:4] == [truth, *[c for c in ranking[1:] if c != truth][:2]], item.name
    assert sum(i.model_correct for i in items) == 3 and len(items) == 5


def test_topk_fills_up_in_the_models_order_after_the_prediction_and_the_other_true_labels():
    ranked = ["c3", "c5", "c7", "c1", "c9", "c0", "c2"]
    assert compose_options("c3", ["c7"], ranked, random.Random(0), in_order=True) == [
        "c3", "c7", "c5", "c1", CANT_TELL]
    assert compose_options("c3", ["c3"], ranked, random.Random(0), in_order=True) == [
        "c3", "c5", "c7", "c1", CANT_TELL]


def test_the_default_is_topk_above_50_classes_and_random_otherwise():
    request = BuildRequest(slug="x", model="m", dataset=Path("d"))
    assert distractor_mode(request, 51) == "topk" and distractor_mode(request, 50) == "random"
    assert distractor_mode(BuildRequest(slug="x", model="m", dataset=Path("d"), distractors="random"),
                           1000) == "random"
    assert distractor_mode(BuildRequest(slug="x", model="m", dataset=Path("d"),
                                        distractor_classes=("a", "b", "c", "d")), 1000) == "subset"


def test_the_key_of_a_default_build_is_unchanged_and_a_chosen_mode_changes_it():
    request = BuildRequest(slug="x", model="m", dataset=Path("d"))
    assert request.key() == BuildRequest(slug="x", model="m", dataset=Path("d"), distractors="auto").key()
    keys = {BuildRequest(slug="x", model="m", dataset=Path("d"), distractors=mode).key()
            for mode in ("auto", "topk", "random")}
    assert len(keys) == 3


def build_command(spec, dataset, *extra) -> None:
    call_command("build_study", "sub", "--model", str(spec), "--dataset", str(dataset), "--arms", "gradient",
                 "--n-correct", "3", "--n-incorrect", "2", "--seed", "2", "--batch-size", "8", *extra,
                 verbosity=0, stdout=io.StringIO())


def test_subset_fills_the_options_with_random_classes_of_the_uploaded_file(
    tiny_spec, csv_dataset, class_names, tmp_path, isolated_media
):
    subset = ["Sandal", "Sneaker", "Ankle boot", "Bag"]
    path = tmp_path / "subset.txt"
    path.write_text("\n".join(["Sandal", " Sneaker ", "", "Ankle boot", "Bag", "Sandal"]) + "\n")
    build_command(tiny_spec, csv_dataset, "--distractor-classes", str(path))
    study = Study.objects.get(slug="sub")
    assert study.provenance["distractors"] == {"mode": "subset", "requested": "auto", "classes": subset,
                                               "model_classes": 10}
    for item in study.items.all():
        fillers = [o for o in item.options[1:-1] if o not in item.true_labels]
        assert len(item.options) == 5 and set(fillers) <= set(subset), item.options


def test_an_unknown_subset_class_is_named_and_nothing_is_written(tiny_spec, csv_dataset, tmp_path,
                                                                 isolated_media):
    path = tmp_path / "subset.txt"
    path.write_text("Sandal\nUnicorn\nSneaker\nDragon\n")
    with pytest.raises(CommandError, match="not among the model's 10 classes: 'Unicorn', 'Dragon'"):
        build_command(tiny_spec, csv_dataset, "--distractors", "subset", "--distractor-classes", str(path))
    assert not Study.objects.exists() and not Item.objects.exists()
    assert not isolated_media.exists() or not any(p.is_file() for p in isolated_media.rglob("*"))


@pytest.mark.parametrize("fields, message", [
    (dict(distractors="subset"), "needs a class subset"),
    (dict(distractors="topk", distractor_classes=("Bag", "Sandal", "Shirt", "Coat")),
     "only with distractors"),
    (dict(distractor_classes=("Bag", "Sandal")), "at least 4 distinct"),
    (dict(distractors="nearest"), "unknown distractors 'nearest'"),
])
def test_inconsistent_distractor_requests_are_refused_before_any_work(tiny_spec, csv_dataset, fields,
                                                                      message):
    request = BuildRequest(slug="s", model=str(tiny_spec), dataset=csv_dataset, **fields)
    with pytest.raises(BuildError, match=message):
        build_study(request, progress=False)
    assert not Study.objects.exists()


def test_random_is_the_default_for_10_classes_and_reproducible_from_the_seed(tiny_spec, csv_dataset,
                                                                             isolated_media):
    def build(slug, **fields):
        request = BuildRequest(slug=slug, model=str(tiny_spec), dataset=csv_dataset, arms=("gradient",),
                               n_correct=3, n_incorrect=2, seed=4, batch_size=8, **fields)
        return build_study(request, progress=False)

    default, chosen = build("a"), build("b", distractors="random")
    assert default.provenance["distractors"]["mode"] == chosen.provenance["distractors"]["mode"] == "random"
    assert default.provenance["distractors"]["requested"] == "auto"
    options = [[i.options for i in s.items.order_by("position")] for s in (default, chosen)]
    assert options[0] == options[1]  # same seed, same mode: the same options
    topk = build("c", distractors="topk")
    assert topk.provenance["distractors"]["mode"] == "topk"
    assert [i.options for i in topk.items.order_by("position")] != options[0]  # random is not the ranking


def test_the_builder_page_offers_the_modes_and_passes_the_subset_to_the_job(staff_client, monkeypatch,
                                                                           isolated_media):
    page = staff_client.get("/r/build/").content.decode()
    assert 'name="distractors"' in page and 'name="distractor_classes"' in page
    assert "auto: topk for models with more than 50 classes" in page
    monkeypatch.setattr(jobs.queue, "send", lambda job, shard=None: None)
    classes = SimpleUploadedFile("subset.txt", b"tabby\ntiger cat\nlynx\ncougar\n")
    response = staff_client.post("/r/build/", page_form(b"PK", distractors="subset",
                                                        distractor_classes=classes))
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.params["distractors"] == "subset"
    assert job.params["distractor_classes"] == ["tabby", "tiger cat", "lynx", "cougar"]
    staff_client.post("/r/build/", page_form(b"PK", slug="plain", distractors=None))  # a form without it
    assert [j.params["distractors"] for j in Job.objects.order_by("pk")] == ["subset", "auto"]


@pytest.mark.parametrize("changes, message", [
    (dict(distractors="subset"), "needs a class subset"),
    (dict(distractors="random", distractor_classes=SimpleUploadedFile("s.txt", b"a\nb\nc\nd\n")),
     "only with distractors 'subset'"),
    (dict(distractors="subset", distractor_classes=SimpleUploadedFile("s.txt", b"\xff\xfe\x00")),
     "s.txt: not UTF-8 text"),
    (dict(distractors="nearest"), "not one of the available choices"),
])
def test_bad_distractor_fields_are_named_and_nothing_is_started(staff_client, changes, message):
    response = staff_client.post("/r/build/", page_form(b"PK", **changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    field = "distractors" if "choices" in message else "distractor_classes"
    assert message in " ".join(errors[field]), errors
    assert not Job.objects.exists()


def test_the_analysis_says_which_distractors_the_study_used(client, django_user_model, tmp_path):
    owner = django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)
    study = make_study("analyzed", owner=owner, provenance={"distractors": {
        "mode": "subset", "requested": "subset", "classes": ["a", "b", "c", "d"], "model_classes": 1000}})
    for right in ({0, 1, 2}, {0, 1}):
        answer_all(study, "gradcam", right)
    for right in ({3, 4}, {1, 3}):
        answer_all(study, "pv", right)
    line = ("Distractor options: subset, random classes from the researcher's class subset (4 classes); "
            "chosen by the researcher.")
    call_command("analyze_study", "analyzed", "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / "table1.md").read_text().startswith(f"## Study\n\n{line}\n\n## Simulatability")
    client.force_login(owner)
    assert line in html.unescape(client.get("/r/studies/analyzed/analysis/").content.decode())
    make_study("old", owner=owner)  # built before the record
    assert "not recorded" in client.get("/r/studies/old/analysis/").content.decode()
