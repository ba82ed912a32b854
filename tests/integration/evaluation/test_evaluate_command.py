"""python manage.py evaluate_explainers: the table and figures on real photos; bad input is refused
with a clear error and nothing written."""
import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image
from skimage import data

from explainers.nets import SmallCNN
from study.jobs import JobCancelled

PHOTOS = ("astronaut", "chelsea", "coffee")
VOC = """<annotation><filename>{name}.png</filename><size><width>{w}</width><height>{h}</height></size>
<object><name>thing</name>
<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>
</object></annotation>"""


@pytest.fixture
def spec(tmp_path) -> str:
    """A seeded SmallCNN checkpoint (3 classes, 32 x 32 inputs) and its model spec."""
    torch.manual_seed(0)
    torch.save(SmallCNN(num_classes=3).state_dict(), tmp_path / "weights.pt")
    (tmp_path / "model.json").write_text(json.dumps({
        "arch": "small_cnn", "checkpoint": "weights.pt", "num_classes": 3, "class_names": ["a", "b", "c"],
        "input_size": 32}))
    return str(tmp_path / "model.json")


@pytest.fixture
def voc(tmp_path):
    """Three real photos in the VOC layout, each with one box over its centre half."""
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for name in PHOTOS:
        photo = getattr(data, name)()
        Image.fromarray(photo).save(root / "JPEGImages" / f"{name}.png")
        h, w = photo.shape[:2]
        (root / "Annotations" / f"{name}.xml").write_text(
            VOC.format(name=name, w=w, h=h, x0=w // 4, y0=h // 4, x1=3 * w // 4, y1=3 * h // 4))
    return root


def run(*args) -> str:
    out = StringIO()
    call_command("evaluate_explainers", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_writes_the_table_and_figures(spec, voc, tmp_path):
    out = tmp_path / "report"
    printed = run("--model", spec, "--images", str(voc), "--methods", "gradcam,gradient",
                  "--metrics", "deletion,insertion,average_drop,increase_in_confidence,adcc,pointing_game,"
                  "energy_pointing_game,randomisation,plausibility", "--out", str(out), "--step", "64",
                  "--batch-size", "2")
    names = {"scores.csv", "table.csv", "table.md", "table.tex", "deletion.png", "insertion.png",
             "randomisation.png"}
    assert {p.name for p in out.iterdir()} == names
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 6 and set(scores["method"]) == {"gradcam", "gradient"}
    assert scores["deletion"].between(0, 1).all() and scores["insertion"].between(0, 1).all()
    assert scores["energy_pointing_game"].between(0, 1).all()
    assert set(scores["pointing_game"]) <= {0.0, 1.0}
    table = pd.read_csv(out / "table.csv")
    assert list(table["Method"]) == ["gradcam", "gradient"] and (table["n"] == 3).all()
    mean_deletion = scores.groupby("method")["deletion"].mean()
    cell = table.set_index("Method").loc["gradcam", "deletion"]
    assert cell.startswith(f"{mean_deletion['gradcam']:.4f} ± ")
    assert "| Method |" in (out / "table.md").read_text() and "| Method |" in printed
    assert r"\toprule" in (out / "table.tex").read_text()
    for figure in ("deletion.png", "insertion.png", "randomisation.png"):
        with Image.open(out / figure) as image:
            assert image.size[0] > 300


@pytest.mark.parametrize("args,message", [
    (["--methods", "gradcam,magic"], "methods must be distinct names"),
    (["--methods", "gradcam", "--metrics", "deletion,accuracy"], "metrics must be distinct names"),
    (["--methods", "gradcam", "--metrics", "pointing_game", "--images", "{plain}"], "VOC folder"),
    (["--methods", "gradcam", "--images", "{empty}"], "no images"),
    (["--methods", "gradcam", "--images", "{broken}"], "cannot read image"),
    (["--methods", "gradcam", "--model", "{missing}"], "neither"),
    (["--methods", "gradcam", "--step", "0"], "at least 1"),
])
def test_bad_input_is_refused_and_nothing_written(spec, voc, tmp_path, args, message):
    folders = {"plain": voc / "JPEGImages", "empty": tmp_path / "empty", "broken": tmp_path / "broken",
               "missing": str(tmp_path / "nope.json")}
    folders["empty"].mkdir()
    folders["broken"].mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(folders["broken"] / "fine.png")
    (folders["broken"] / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    options = {"--model": spec, "--images": str(voc), "--metrics": "deletion",
               "--out": str(tmp_path / "report")}
    for flag, value in zip(args[::2], args[1::2]):
        options[flag] = value.format(**{k: str(v) for k, v in folders.items()})
    with pytest.raises(CommandError, match=message):
        run(*[part for item in options.items() for part in item])
    assert not (tmp_path / "report").exists()


@pytest.mark.django_db
def test_enqueued_evaluation_writes_the_same_table_on_its_job_page(spec, voc, tmp_path, jobs_inline, isolated_media,
                                                                   settings):
    from study.models import Job

    settings.JOBS_DIR = tmp_path / "jobs"
    args = ("--model", spec, "--images", str(voc), "--methods", "gradcam,gradient", "--metrics", "deletion,adcc",
            "--step", "64", "--batch-size", "2")
    run(*args, "--out", str(tmp_path / "direct"))
    with jobs_inline():
        run(*args, "--out", str(tmp_path / "unused"), "--enqueue")
    job = Job.objects.get()
    assert (job.kind, job.state) == ("evaluation", "done"), job.error
    assert not (tmp_path / "unused").exists()
    assert "table.csv" in job.result
    queued = pd.read_csv(settings.JOBS_DIR / str(job.pk) / "files" / "table.csv")
    pd.testing.assert_frame_equal(queued, pd.read_csv(tmp_path / "direct" / "table.csv"))


def test_report_hears_each_batch_of_maps_and_stopping_in_it_writes_nothing(spec, voc, tmp_path):
    from evaluation.report import evaluate_explainers

    heard = []
    evaluate_explainers(spec, voc, ["gradcam", "gradient"], ["deletion"], tmp_path / "report", batch_size=2,
                        step=64, report=lambda *call: heard.append(call))
    message = "explaining and scoring the images ({})".format
    # each method named before it runs on a batch, and counted after it
    assert heard == [(0, 6, message("Grad-CAM")), (2, 6, message("Grad-CAM")), (2, 6, message("Gradient")),
                     (4, 6, message("Gradient")), (4, 6, message("Grad-CAM")), (5, 6, message("Grad-CAM")),
                     (5, 6, message("Gradient")), (6, 6, message("Gradient"))]

    def stop(done, total, message):
        if done == 4:
            raise JobCancelled

    with pytest.raises(JobCancelled):
        evaluate_explainers(spec, voc, ["gradcam", "gradient"], ["deletion"], tmp_path / "stopped",
                            batch_size=2, step=64, report=stop)
    assert not (tmp_path / "stopped").exists()
