"""The study builder page: a labelled zip and a torchvision-style checkpoint go in, the "build_study" job
runs (in this process), and the study comes out with the chosen arms and items; each bad field or file is
named, and nothing is created on error."""

import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from django.core.files.uploadedfile import SimpleUploadedFile

from explainers import load_model, predict
from study import jobs
from study.models import Item, Job, Study
from tests.integration.builder.conftest import write_csv_dataset

pytestmark = pytest.mark.django_db


def zip_of(folder: Path, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return buffer.getvalue()


def form(tiny_spec: Path, dataset_zip: bytes, names: list[str], **changes) -> dict:
    fields = {
        "slug": "built", "title": "Built in the browser", "model": "small_cnn", "input_size": "32",
        "threshold": "0.5", "arms": ["gradcam", "gradient"], "rendering": "white_mask", "n_correct": "3",
        "n_incorrect": "2", "seed": "5", "attention_checks": "2", "attention_positions": "1,7",
        "confidence_rating": "5",
        "questionnaire": json.dumps({"blocks": [{"placement": "before", "title": "About you",
                                                 "demographics": ["age", "gender"]}]}),
        "dataset": SimpleUploadedFile("fashion.zip", dataset_zip, "application/zip"),
        "checkpoint": SimpleUploadedFile("model.pt", (tiny_spec.parent / "model.pt").read_bytes()),
        "class_names": SimpleUploadedFile("classes.txt", "\n".join(names).encode()),
    }
    return {k: v for k, v in (fields | changes).items() if v is not None}


def test_a_valid_form_builds_the_study_in_a_job_owned_by_the_researcher(
    staff_client, researcher, tiny_spec, fashion, class_names, tmp_path, jobs_inline, settings
):
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion), prefix="fashion/")
    with jobs_inline():
        response = staff_client.post("/r/build/", form(tiny_spec, data, class_names))
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == f"/r/jobs/{job.pk}/"
    assert job.kind == "build_study" and job.started_by == researcher
    assert job.state == "done", job.error
    study = Study.objects.get(slug="built")
    assert job.result == {"study": "/r/studies/built/"}
    assert study.owner == researcher and study.title == "Built in the browser"
    assert study.confidence_rating == 5
    assert [(b.placement, b.title, [q.key for q in b.questions.order_by("position")])
            for b in study.questionnaire_blocks.all()] == [("before", "About you", ["age", "gender"])]
    assert [(a.name, a.technique) for a in study.arms.order_by("position")] == [
        ("gradcam", "gradcam"), ("gradient", "gradient")]
    items = list(study.items.order_by("position"))
    assert len(items) == 7 and [i.position for i in items if i.is_attention_check] == [0, 6]
    questions = [i for i in items if not i.is_attention_check]
    assert sum(i.model_correct for i in questions) == 3 and sum(not i.model_correct for i in questions) == 2
    # The spec the page wrote loads the uploaded checkpoint: its verdicts are the items' verdicts.
    spec = json.loads(Path(job.params["model"]).read_text())
    assert spec == {"arch": "small_cnn", "checkpoint": "checkpoint.pt", "class_names": "classes.txt",
                    "num_classes": 10, "input_size": 32, "multi_label": False, "threshold": 0.5}
    model = load_model(job.params["model"])
    p = predict(model, model.preprocess([tmp_path / "data" / item.name for item in items]))
    for item, scores in zip(items, p):
        top1 = class_names[int(scores.argmax())]
        assert item.model_prediction == top1
        assert item.model_correct == (top1 in item.true_labels)
    assert all(item.stimuli.count() == 2 for item in items)
    # The unpacked copy and the data-set zip are removed; the checkpoint the spec names stays.
    assert sorted(p.name for p in (jobs.output_dir(job) / "upload").iterdir()) == [
        "checkpoint.pt", "classes.txt", "model.json"]
    page = staff_client.get(f"/r/jobs/{job.pk}/")
    assert b'href="/r/studies/built/"' in page.content


def test_the_bundled_model_needs_no_checkpoint(staff_client, tiny_spec, fashion, class_names, tmp_path,
                                              monkeypatch):
    sent = []
    monkeypatch.setattr(jobs.queue, "send", lambda job, shard=None: sent.append(job.pk))
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion, n=4))
    response = staff_client.post("/r/build/", form(tiny_spec, data, class_names, model="efficientnet-lite0",
                                                   **{"checkpoint": None, "class_names": None}))
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.params["model"] == "efficientnet-lite0"
    assert (jobs.output_dir(job) / "upload" / "dataset.zip").read_bytes() == data


def test_the_job_is_asked_for_the_attention_block_the_page_ticked(staff_client, tiny_spec, fashion,
                                                                  class_names, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs.queue, "send", lambda job, shard=None: None)
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion, n=4))
    changes = {"attention_block": "on", "attention_min_clicks": "2", "attention_task": "Where is it?"}
    assert staff_client.post("/r/build/", form(tiny_spec, data, class_names, **changes)).status_code == 302
    assert Job.objects.get().params["attention_block"] == {"sigma": 40, "radius": 40, "min_clicks": 2,
                                                           "max_clicks": 100, "time_limit_s": 0,
                                                           "task": "Where is it?"}


@pytest.mark.parametrize("changes, field, message", [
    ({"checkpoint": None}, "checkpoint", "needed for small_cnn"),
    ({"class_names": None}, "class_names", "needed for small_cnn"),
    ({"dataset": SimpleUploadedFile("fashion.tar", b"x")}, "dataset", "fashion.tar: upload a .zip archive"),
    ({"dataset": None}, "dataset", "required"),
    ({"slug": "taken"}, "slug", "exists already"),
    ({"slug": "no spaces"}, "slug", "valid"),
    ({"arms": ["nonsense"]}, "arms", "not one of the available choices"),
    ({"arms": None}, "arms", "required"),
    ({"rendering": "sepia"}, "rendering", "not one of the available choices"),
    ({"model": "alexnet9"}, "model", "not one of the available choices"),
    ({"n_correct": "-1"}, "n_correct", "greater than or equal to 0"),
    ({"n_correct": "0", "n_incorrect": "0"}, "n_correct", "at least one item"),
    ({"seed": "x"}, "seed", "whole number"),
    ({"threshold": "1.5"}, "threshold", "less than or equal to 1"),
    ({"attention_positions": "1,x"}, "attention_positions", "whole numbers"),
    ({"attention_positions": "1"}, "attention_positions", "give 2 distinct positions between 1 and 7"),
    ({"attention_positions": "1,8"}, "attention_positions", "between 1 and 7"),
    ({"confidence_rating": "1"}, "confidence_rating", "at least 2 levels"),
    ({"confidence_rating": "11"}, "confidence_rating", "less than or equal to 10"),
    ({"questionnaire": "{not json"}, "questionnaire", "not valid JSON"),
    ({"questionnaire": '{"blocks": [{"placement": "during"}]}'}, "questionnaire", "blocks[0].placement"),
])
def test_each_bad_field_is_named_and_nothing_is_created(staff_client, tiny_spec, class_names, settings,
                                                        changes, field, message):
    from tests.factories import make_study

    make_study("taken")
    response = staff_client.post("/r/build/", form(tiny_spec, b"PK", class_names, **changes))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert message.split(":")[0] in response.content.decode()
    assert not Job.objects.exists() and Study.objects.count() == 1
    assert not Path(settings.JOBS_DIR).exists() or not any(Path(settings.JOBS_DIR).iterdir())


def test_bad_data_fails_the_job_naming_the_file_and_creates_nothing(
    staff_client, tiny_spec, fashion, class_names, tmp_path, jobs_inline
):
    folder = write_csv_dataset(tmp_path / "data", fashion, n=12)
    (folder / "img_003.png").unlink()
    with jobs_inline():
        staff_client.post("/r/build/", form(tiny_spec, zip_of(folder), class_names, attention_checks="0",
                                            attention_positions=""))
    job = Job.objects.get()
    assert job.state == "failed"
    first_line = job.error.splitlines()[0]
    assert first_line.startswith("fashion.zip: ") and "img_003.png" in first_line
    assert not Study.objects.exists() and not Item.objects.exists()


def test_a_broken_zip_fails_the_job_naming_it(staff_client, tiny_spec, class_names, jobs_inline):
    with jobs_inline():
        staff_client.post("/r/build/", form(tiny_spec, b"not a zip at all", class_names))
    job = Job.objects.get()
    assert job.state == "failed" and job.error.startswith("fashion.zip: not a readable zip archive")
    assert not Study.objects.exists()


def test_building_needs_the_add_study_permission_and_a_declared_size_under_the_limit(
    client, django_user_model, researcher, settings, tiny_spec, class_names
):
    plain = django_user_model.objects.create_user("plain", password="pw-Secret-123", is_staff=True)
    client.force_login(plain)
    assert client.get("/r/build/").status_code == 403
    client.force_login(researcher)
    assert client.get("/r/build/").status_code == 200
    settings.STUDY_UPLOAD_MAX_BYTES = 1000
    response = client.post("/r/build/", form(tiny_spec, b"PK" * 2000, class_names))
    assert response.status_code == 413
    assert not Job.objects.exists()


def test_a_build_cancelled_while_it_renders_creates_nothing_and_retry_builds_it(
    staff_client, tiny_spec, fashion, class_names, tmp_path, jobs_inline, isolated_media, monkeypatch
):
    from study.building import build

    render = build.render

    def cancel_then_render(*args, **kwargs):  # the researcher presses Cancel as the stimuli start
        jobs.cancel(Job.objects.get())
        return render(*args, **kwargs)

    monkeypatch.setattr(build, "render", cancel_then_render)
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion), prefix="fashion/")
    with jobs_inline():
        staff_client.post("/r/build/", form(tiny_spec, data, class_names))
    job = Job.objects.get()
    assert job.state == "cancelled" and job.result == {}
    assert not Study.objects.exists() and not Item.objects.exists()
    assert not isolated_media.exists() or not any(p.is_file() for p in isolated_media.rglob("*"))
    assert "dataset.zip" in {p.name for p in (jobs.output_dir(job) / "upload").iterdir()}  # kept for Retry

    monkeypatch.setattr(build, "render", render)
    with jobs_inline():
        jobs.retry(job)
    job.refresh_from_db()
    assert job.state == "done", job.error
    assert Study.objects.get(slug="built").items.count() == 7


class _Payload:
    """Unpickling this runs a shell command that creates `marker`, as a crafted checkpoint would."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_pickle_checkpoint_is_refused_and_runs_nothing(
    staff_client, tiny_spec, fashion, class_names, tmp_path, jobs_inline
):
    page = staff_client.get("/r/build/").content.decode()
    assert "a state dict saved with torch.save (.pt, .pth) or a safetensors file (.safetensors)" in page
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"features.block1.0.weight": _Payload(marker)}, buffer)
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion, n=12))
    with jobs_inline():
        staff_client.post("/r/build/", form(tiny_spec, data, class_names, attention_checks="0",
                                            attention_positions="",
                                            checkpoint=SimpleUploadedFile("model.pt", buffer.getvalue())))
    assert not marker.exists()
    job = Job.objects.get()
    assert job.state == "failed" and not Study.objects.exists()
    assert job.error == (
        "checkpoint checkpoint.pt was refused: it is not a plain state dict (it may hold a pickled module or "
        "other objects, whose reading could run code, or be damaged). Give a state dict saved with torch.save "
        "(.pt, .pth) or a safetensors file (.safetensors); a full pickled module of your own loads only from "
        "the command line with --trust-checkpoint")
    shown = staff_client.get(f"/r/jobs/{job.pk}/").content.decode()
    assert "checkpoint.pt was refused" in shown and "Traceback" not in shown
    torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)  # the upload was a live payload:
    assert marker.exists()  # unpickled, it runs its command


def test_a_second_build_of_a_slug_is_refused_at_once_while_the_first_is_queued(
        staff_client, tiny_spec, fashion, class_names, tmp_path):
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion), prefix="fashion/")
    first = staff_client.post("/r/build/", form(tiny_spec, data, class_names))
    assert first.status_code == 302 and Job.objects.get().state == "queued"
    second = staff_client.post("/r/build/", form(tiny_spec, data, class_names))
    assert second.status_code == 400
    assert "a build of &#x27;built&#x27; is already queued or running" in second.content.decode()
    assert Job.objects.count() == 1
    job = Job.objects.get()
    jobs.cancel(job)  # once the first build ends, the slug is free again
    assert staff_client.post("/r/build/", form(tiny_spec, data, class_names)).status_code == 302
    with pytest.raises(jobs.JobClaimed, match=r"study:built is taken by job \d+"):
        jobs.retry(job)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_builds_of_one_slug_submitted_at_the_same_moment_queue_one_job():
    """The claim is a unique index over active jobs: the database decides, not a check before the insert."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...): threads share no in-memory SQLite "
                    "database")
    barrier, outcomes = threading.Barrier(2), []

    def submit():
        try:
            barrier.wait()
            outcomes.append(jobs.enqueue("build_study", {"slug": "race"}, claim="study:race").pk)
        except jobs.JobClaimed as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(type(o).__name__ for o in outcomes) == ["int", "str"], outcomes
    assert Job.objects.filter(claim="study:race").count() == 1


def test_an_uploaded_decoder_is_used_by_the_build_and_judged_by_the_quality_gate(
    staff_client, tiny_spec, tiny_decoder, fashion, class_names, tmp_path, jobs_inline
):
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion))
    upload = SimpleUploadedFile("my-decoder.pt", tiny_decoder.read_bytes())
    with jobs_inline():
        response = staff_client.post("/r/build/", form(
            tiny_spec, data, class_names, arms=["gradcam", "pv"], attention_checks="0", attention_positions="",
            decoder=upload))
    job = Job.objects.get()
    assert response.status_code == 302
    assert Path(job.params["decoder"]).read_bytes() == tiny_decoder.read_bytes()
    # One epoch on 128 images: the uploaded decoder does not beat the mean image, and the job says so.
    assert job.state == "failed" and "does not show what the model saw" in job.error, job.error
    assert "upload a decoder trained elsewhere" in job.error
    assert not Study.objects.exists() and not Item.objects.exists()
    page = staff_client.get(f"/r/jobs/{job.pk}/").content.decode()
    assert "does not show what the model saw" in page


def test_an_uploaded_decoder_is_never_unpickled(staff_client, tiny_spec, fashion, class_names, tmp_path,
                                                jobs_inline):
    import torch

    marker = tmp_path / "ran"
    crafted = io.BytesIO()
    torch.save({"format": "explainlab-pv-decoder/1", "payload": _Payload(marker)}, crafted)
    data = zip_of(write_csv_dataset(tmp_path / "data", fashion))
    with jobs_inline():
        staff_client.post("/r/build/", form(
            tiny_spec, data, class_names, arms=["pv"], attention_checks="0", attention_positions="",
            decoder=SimpleUploadedFile("decoder.pt", crafted.getvalue())))
    job = Job.objects.get()
    assert job.state == "failed" and "cannot read decoder checkpoint" in job.error, job.error
    assert not marker.exists() and not Study.objects.exists()


def test_the_builder_page_offers_a_decoder_upload_and_the_job_page_shows_the_decoders_quality(
    staff_client, researcher
):
    page = staff_client.get("/r/build/").content.decode()
    assert 'type="file" name="decoder"' in page and 'name="decoder_layer"' in page
    assert "weights_only=True" in page
    job = Job.objects.create(kind="build_study", params={}, started_by=researcher, state=Job.State.DONE,
                             result={"study": "/r/studies/s/", "PV decoder quality": "held-out SSIM 0.612"})
    detail = staff_client.get(f"/r/jobs/{job.pk}/").content.decode()
    assert '<a href="/r/studies/s/">study</a>' in detail and "PV decoder quality: held-out SSIM 0.612" in detail
