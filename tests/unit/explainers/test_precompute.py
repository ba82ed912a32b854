"""precompute + MapCache: stored maps equal explain's, one forward pass per batch, a second run
recomputes nothing, an interrupted run resumes, several writers at once, bad input writes nothing."""
import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import explainers.cache as cache_module
import explainers.precompute as precompute_module
from explainers import CacheError, ExplainError, explain, load_model
from explainers.cache import MapCache, file_sha256, load_map
from explainers.precompute import precompute
from explainers.render import jet_overlay, white_mask


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


def manifests(root) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "shards").glob("*.json"))]


def stored_keys(root) -> list[str]:
    """Every key of every shard, repeats included: each map computed and stored counts once."""
    return [key for manifest in manifests(root) for key in manifest["keys"]]


def forward_calls(monkeypatch, model) -> list:
    calls = []
    forward = model.module.forward
    monkeypatch.setattr(model.module, "forward", lambda x: calls.append(len(x)) or forward(x))
    return calls


def test_stored_maps_renders_and_provenance(tmp_path, model, image_paths):
    records = precompute(model, image_paths, ["gradcam", "smoothgrad"], batch_size=3, device="cpu",
                         cache_dir=tmp_path / "cache", params={"smoothgrad": {"n": 3}}, progress=False)
    assert len(records) == 8 and len({r.key for r in records}) == 8
    images = model.preprocess(image_paths)
    predictions = {k: v for m in manifests(tmp_path / "cache") for k, v in m["predictions"].items()}
    predicted = torch.stack([model.module(images[i:i + 1])[0] for i in range(4)]).argmax(dim=1).tolist()
    assert sorted(p["predicted"] for p in predictions.values()) == sorted(predicted)
    gradcam = explain(model, images, predicted, "gradcam").numpy()
    assert [(r.image, r.method) for r in records[:3]] == [
        (image_paths[0], "gradcam"), (image_paths[0], "smoothgrad"), (image_paths[1], "gradcam")]
    assert len(manifests(tmp_path / "cache")) == 2  # one shard per batch of 3 images
    display = model.to_display(images)
    for i, record in enumerate(records[::2]):  # image-major: gradcam, smoothgrad for each image
        stored = np.load(record.shard)[record.row]
        assert stored.dtype == np.float16 and stored.shape == (32, 32)
        np.testing.assert_allclose(record.load(), gradcam[i], atol=1e-3)
        assert record.load(size=(40, 48)).shape == (40, 48)
        for name, formula in (("overlay", jet_overlay), ("mask", white_mask)):
            expected = formula(display[i:i + 1], torch.from_numpy(record.load())[None])[0].permute(1, 2, 0)
            rendered = np.asarray(Image.open(record.render(name))).astype(np.float32) / 255
            np.testing.assert_allclose(rendered, expected.numpy(), atol=2 / 255)
        assert record.target == predicted[i]
        provenance = record.provenance
        assert provenance["method"] == "gradcam" and provenance["target"] == predicted[i]
        assert provenance["image"] == str(image_paths[i]) and provenance["device"] == "cpu"
        assert provenance["versions"]["torch"] == torch.__version__ and provenance["seconds_per_image"] > 0
    assert records[1].provenance["params"] == {"n": 3, "sigma": 0.15, "seed": 0}
    lookup = MapCache(tmp_path / "cache").lookup(model, image_paths[0], "gradcam", predicted[0])
    assert (lookup.shard, lookup.row) == (records[0].shard, records[0].row)
    loaded = load_map(tmp_path / "cache", model, image_paths[0], "gradcam", predicted[0])
    np.testing.assert_array_equal(loaded, records[0].load())
    with pytest.raises(CacheError, match="no cached fem map"):
        load_map(tmp_path / "cache", model, image_paths[0], "fem", predicted[0])
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_predicted_targets_cost_one_forward_pass_per_batch(tmp_path, model, image_paths, monkeypatch):
    calls = forward_calls(monkeypatch, model)
    records = precompute(model, image_paths, ["gradcam", "fem"], batch_size=2, cache_dir=tmp_path,
                         device="cpu", progress=False)
    assert calls == [2, 2, 2, 2]  # per batch: gradcam's pass (which predicts), fem's pass; no predict pass
    images = model.preprocess(image_paths)
    predicted = model.module(images).argmax(dim=1).tolist()
    assert [r.target for r in records[::2]] == predicted
    np.testing.assert_allclose(np.stack([r.load() for r in records[1::2]]),
                               explain(model, images, predicted, "fem").numpy(), atol=1e-3)


def test_predicted_targets_store_each_methods_own_maps(tmp_path, model, image_paths):
    """Guided Grad-CAM first: the pass that predicts also computes its maps, which are its own (guided
    backprop times Grad-CAM), not plain Grad-CAM's."""
    records = precompute(model, image_paths, ["guided_gradcam", "gradcam"], batch_size=2, cache_dir=tmp_path,
                         device="cpu", progress=False)
    images = model.preprocess(image_paths)
    predicted = model.module(images).argmax(dim=1).tolist()
    for method in ("guided_gradcam", "gradcam"):
        stored = np.stack([r.load() for r in records if r.method == method])
        np.testing.assert_allclose(stored, explain(model, images, predicted, method).numpy(), atol=1e-3)


def test_second_run_recomputes_nothing(tmp_path, model, image_paths, monkeypatch):
    first = precompute(model, image_paths, ["gradcam", "fem"], targets=[1, 4], batch_size=4,
                       cache_dir=tmp_path, device="cpu", progress=False)
    assert len(first) == 16 and len(stored_keys(tmp_path)) == 16
    calls = counting(monkeypatch)
    monkeypatch.setattr(model.module, "forward", None)  # any forward pass would fail
    second = precompute(model, image_paths, ["gradcam", "fem"], targets=[1, 4], batch_size=4,
                        cache_dir=tmp_path, device="cpu", progress=False)
    assert calls == [] and second == first and len(stored_keys(tmp_path)) == 16


def test_interrupted_run_resumes(tmp_path, model, image_paths, monkeypatch):
    calls = counting(monkeypatch, fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        precompute(model, image_paths, ["gradcam"], targets=[3], batch_size=2, cache_dir=tmp_path,
                   device="cpu", progress=False)
    assert calls == [2, 2]
    first = stored_keys(tmp_path)
    shards = list((tmp_path / "shards").glob("*.npy"))
    assert len(first) == 2 and all(np.load(p).shape == (2, 32, 32) for p in shards)
    calls = counting(monkeypatch)
    records = precompute(model, image_paths, ["gradcam"], targets=[3], batch_size=2, cache_dir=tmp_path,
                         device="cpu", progress=False)
    assert calls == [2] and len(records) == 4  # only the second batch was computed
    assert [r.key for r in records[:2]] == first
    assert sorted(stored_keys(tmp_path)) == sorted(r.key for r in records)


def test_cancel_from_the_progress_callback_keeps_finished_batches(tmp_path, model, image_paths):
    seen = []

    def stop_after_first(done, total):
        seen.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        precompute(model, image_paths, ["fem"], targets=[0], batch_size=3, cache_dir=tmp_path, device="cpu",
                   progress=False, on_batch=stop_after_first)
    assert seen == [(3, 4)] and len(stored_keys(tmp_path)) == 3


def test_renders_during_the_run_match_renders_on_demand(tmp_path, model, image_paths):
    during = precompute(model, image_paths[:2], ["fem"], targets=[0], cache_dir=tmp_path / "a", device="cpu",
                        progress=False, renders=True)
    paths = [tmp_path / "a" / "renders" / r.key[:2] / f"{r.key}.{n}.png"
             for r in during for n in ("overlay", "mask")]
    assert all(p.is_file() for p in paths)
    later = precompute(model, image_paths[:2], ["fem"], targets=[0], cache_dir=tmp_path / "b", device="cpu",
                       progress=False)
    assert not (tmp_path / "b" / "renders").exists()
    for a, b in zip(during, later):
        assert a.render("mask").read_bytes() == b.render("mask").read_bytes()


def test_several_writers_at_once_leave_only_complete_shards(tmp_path, model, image_paths):
    torch.manual_seed(0)
    twin = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32, "name": "tiny"})
    results, errors = [], []

    def run(m):
        try:
            results.append(precompute(m, image_paths, ["fem"], targets=[0, 1], batch_size=1,
                                      cache_dir=tmp_path, device="cpu", progress=False))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(m,)) for m in (model, twin)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(results) == 2
    assert [r.key for r in results[0]] == [r.key for r in results[1]]
    for manifest_path in (tmp_path / "shards").glob("*.json"):
        keys = json.loads(manifest_path.read_text())["keys"]
        assert len(np.load(manifest_path.with_suffix(".npy"))) == len(keys)
    assert set(stored_keys(tmp_path)) == {r.key for r in results[0]}
    np.testing.assert_array_equal(MapCache(tmp_path).get(results[0][0].key).load(), results[1][0].load())


def test_a_changed_file_at_the_same_path_is_hashed_again(tmp_path, model, image_paths, monkeypatch):
    first = precompute(model, image_paths, ["fem"], targets=[0], cache_dir=tmp_path, device="cpu",
                       progress=False)
    hashed = []
    monkeypatch.setattr(cache_module, "file_sha256", lambda p: hashed.append(p) or file_sha256(p))
    assert precompute(model, image_paths, ["fem"], targets=[0], cache_dir=tmp_path, device="cpu",
                      progress=False) == first and hashed == []  # size and mtime unchanged: hashes reused
    Image.open(image_paths[1]).rotate(90).save(image_paths[1])
    second = precompute(model, image_paths, ["fem"], targets=[0], cache_dir=tmp_path, device="cpu",
                        progress=False)
    assert hashed == [image_paths[1]] and second[1].key != first[1].key and second[0].key == first[0].key
    assert len(stored_keys(tmp_path)) == 5


def test_a_copy_of_an_image_shares_entries_but_keeps_its_own_path(tmp_path, model, image_paths):
    copy = tmp_path / "copy.png"
    copy.write_bytes(image_paths[0].read_bytes())
    first, second = precompute(model, [image_paths[0], copy], ["fem"], targets=[2], cache_dir=tmp_path / "c",
                               device="cpu", progress=False)
    assert first.key == second.key and (first.image, second.image) == (image_paths[0], copy)
    assert len(stored_keys(tmp_path / "c")) == 1


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
