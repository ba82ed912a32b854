"""precompute + MapCache: stored maps equal explain's, a second run recomputes nothing, an
interrupted run resumes, bad input writes nothing."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

import explainers.precompute as precompute_module
from explainers import CacheError, ExplainError, explain, load_model
from explainers.cache import MapCache, load_map
from explainers.precompute import precompute


@pytest.fixture
def model():
    torch.manual_seed(0)
    return load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32, "name": "tiny"})


@pytest.fixture
def image_paths(tmp_path, photos):
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i, photo in enumerate(photos):
        paths.append(folder / f"{i}.png")
        Image.fromarray(photo).resize((48, 40)).save(paths[-1])
    return paths


def counting(monkeypatch, fail_on_call: int | None = None) -> list:
    """Count explain() calls made by precompute; raise KeyboardInterrupt on call `fail_on_call`."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(len(args[1]))
        if fail_on_call is not None and len(calls) == fail_on_call:
            raise KeyboardInterrupt
        return explain(*args, **kwargs)

    monkeypatch.setattr(precompute_module, "explain", wrapped)
    return calls


def test_stored_maps_renders_and_provenance(tmp_path, model, image_paths):
    records = precompute(model, image_paths, ["gradcam", "smoothgrad"], batch_size=3, device="cpu",
                         cache_dir=tmp_path / "cache", params={"smoothgrad": {"n": 3}}, progress=False)
    assert len(records) == 8 and len({r.key for r in records}) == 8
    images = model.preprocess(image_paths)
    targets = [json.loads(p.read_text())["predicted"] for p in (tmp_path / "cache" / "predictions").glob("*")]
    predicted = torch.stack([model.module(images[i:i + 1])[0] for i in range(4)]).argmax(dim=1).tolist()
    assert sorted(targets) == sorted(predicted)
    gradcam = explain(model, images, predicted, "gradcam").numpy()
    assert [(r.image, r.method) for r in records[:3]] == [
        (image_paths[0], "gradcam"), (image_paths[0], "smoothgrad"), (image_paths[1], "gradcam")]
    for i, record in enumerate(records[::2]):  # image-major: gradcam, smoothgrad for each image
        stored = np.load(record.map_path)
        assert stored.dtype == np.float16 and stored.shape == (32, 32)
        np.testing.assert_allclose(record.load(), gradcam[i], atol=1e-3)
        assert record.load(size=(40, 48)).shape == (40, 48)
        assert set(record.files) == {"overlay", "mask"}
        assert Image.open(record.files["mask"]).size == (32, 32)
        assert record.target == predicted[i]
        provenance = record.provenance
        assert provenance["method"] == "gradcam" and provenance["target"] == predicted[i]
        assert provenance["image"] == str(image_paths[i]) and provenance["device"] == "cpu"
        assert provenance["versions"]["torch"] == torch.__version__ and provenance["seconds_per_image"] > 0
    assert records[1].provenance["params"] == {"n": 3, "sigma": 0.15, "seed": 0}
    lookup = MapCache(tmp_path / "cache").lookup(model, image_paths[0], "gradcam", predicted[0])
    assert lookup.folder == records[0].folder
    loaded = load_map(tmp_path / "cache", model, image_paths[0], "gradcam", predicted[0])
    np.testing.assert_array_equal(loaded, records[0].load())
    with pytest.raises(CacheError, match="no cached fem map"):
        load_map(tmp_path / "cache", model, image_paths[0], "fem", predicted[0])
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_second_run_recomputes_nothing(tmp_path, model, image_paths, monkeypatch):
    first = precompute(model, image_paths, ["gradcam", "fem"], targets=[1, 4], batch_size=4,
                       cache_dir=tmp_path, device="cpu", progress=False)
    assert len(first) == 16
    calls = counting(monkeypatch)
    monkeypatch.setattr(model.module, "forward", None)  # any forward pass would fail
    second = precompute(model, image_paths, ["gradcam", "fem"], targets=[1, 4], batch_size=4,
                        cache_dir=tmp_path, device="cpu", progress=False)
    assert calls == [] and second == first


def test_interrupted_run_resumes(tmp_path, model, image_paths, monkeypatch):
    calls = counting(monkeypatch, fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        precompute(model, image_paths, ["gradcam"], batch_size=2, cache_dir=tmp_path, device="cpu",
                   progress=False)
    assert calls == [2, 2]
    done = [p for p in tmp_path.glob("??/*") if p.is_dir()]
    assert len(done) == 2 and all((p / "provenance.json").is_file() for p in done)
    calls = counting(monkeypatch)
    records = precompute(model, image_paths, ["gradcam"], batch_size=2, cache_dir=tmp_path, device="cpu",
                         progress=False)
    assert calls == [2] and len(records) == 4  # only the second batch was computed
    assert {r.folder for r in records[:2]} == set(done)


def test_a_copy_of_an_image_shares_entries_but_keeps_its_own_path(tmp_path, model, image_paths):
    copy = tmp_path / "copy.png"
    copy.write_bytes(image_paths[0].read_bytes())
    first, second = precompute(model, [image_paths[0], copy], ["fem"], targets=[2], cache_dir=tmp_path / "c",
                               device="cpu", progress=False)
    assert first.folder == second.folder and (first.image, second.image) == (image_paths[0], copy)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"methods": ["nonsense"]}, "cannot precompute \\['nonsense'\\]"),
    ({"methods": ["pv"]}, "cannot precompute \\['pv'\\]"),
    ({"methods": ["gradcam"], "params": {"gradcam": {"k": 1}}}, "gradcam takes no parameter"),
    ({"methods": ["gradcam"], "params": {"fem": {"k": 1}}}, "methods not asked for"),
    ({"methods": ["gradcam"], "targets": [10]}, "class indices in \\[0, 10\\)"),
    ({"methods": ["gradcam"], "device": "tpu"}, "device must be auto, cpu or cuda"),
    ({"methods": ["gradcam"], "batch_size": 0}, "batch size must be at least 1"),
])
def test_bad_input_is_refused_and_writes_nothing(tmp_path, model, image_paths, kwargs, message):
    with pytest.raises(ExplainError, match=message):
        precompute(model, image_paths, cache_dir=tmp_path / "cache", progress=False, **kwargs)
    assert not (tmp_path / "cache").exists()


def test_missing_image_is_refused(tmp_path, model, image_paths):
    with pytest.raises(ExplainError, match="image files not found"):
        precompute(model, [*image_paths, tmp_path / "gone.png"], ["gradcam"], cache_dir=tmp_path / "c",
                   progress=False)
    assert not (tmp_path / "c").exists()
