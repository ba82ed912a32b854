"""Training a decoder for a SmallCNN on real photos; checkpoints, resume, loading, PV images."""

import numpy as np
import pytest
import torch
from skimage import data

from explainers import explain, load_model
from explainers.dispatch import CAM_METHODS
from explainers.pv import PVError, compose_pv, encoder_of, load_decoder, pv_images, train_decoder

pytestmark = pytest.mark.slow  # a few short CPU trainings: about 20 s of CPU time in all

PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "cat",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
)


def photo_crops(n: int = 30, size: int = 96, seed: int = 0) -> list[np.ndarray]:
    """n random (size, size, 3) uint8 crops of scikit-image's colour photos."""
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = getattr(data, PHOTOS[i % len(PHOTOS)])()
        top, left = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        crops.append(photo[top : top + size, left : left + size])
    return crops


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return load_model(
        {
            "arch": "small_cnn",
            "num_classes": 10,
            "input_size": 32,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25],
        }
    )


def train(model, images, path, **options):
    settings = {"epochs": 3, "batch_size": 9, "lr": 2e-3, "seed": 0, "device": "cpu", "progress": False}
    return train_decoder(model, images, path, **{**settings, **options})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A SmallCNN, a decoder trained for it, the training result and the model's state beforehand."""
    model = small_model()
    probe = model.preprocess(photo_crops(4, seed=1))
    before = {key: value.clone() for key, value in model.module.state_dict().items()}
    predictions = model.module(probe).detach()
    result = train(model, photo_crops(), tmp_path_factory.mktemp("pv") / "decoder.pt")
    return model, result, before, probe, predictions


def test_short_training_on_real_photos_lowers_the_held_out_loss(trained):
    _model, result, *_ = trained
    assert [stats.epoch for stats in result.history] == [0, 1, 2, 3]
    assert (result.n_train, result.n_val) == (27, 3)
    untrained, final = result.history[0], result.final
    assert final.val_loss < untrained.val_loss
    assert final.val_ssim > untrained.val_ssim and final.val_psnr > untrained.val_psnr
    assert result.path.is_file() and sorted(p.name for p in result.path.parent.iterdir()) == ["decoder.pt"]


def test_encoder_weights_and_predictions_unchanged_by_training(trained):
    model, _, before, probe, predictions = trained
    after = model.module.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # BatchNorm statistics included
    torch.testing.assert_close(model.module(probe).detach(), predictions, rtol=0, atol=0)
    assert not model.module.training and all(p.requires_grad for p in model.module.parameters())


def test_resume_continues_where_it_stopped_and_matches_an_unbroken_run(trained, tmp_path):
    model, result, *_ = trained
    path = tmp_path / "decoder.pt"
    train(model, photo_crops(), path, epochs=1)
    resumed = train(model, photo_crops(), path, resume=True)
    assert [stats.epoch for stats in resumed.history] == [0, 1, 2, 3]
    for a, b in zip(resumed.history, result.history):
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-4)
    with pytest.raises(PVError, match="already exists"):
        train(model, photo_crops(), path)
    with pytest.raises(PVError, match="other settings"):
        train(model, photo_crops(), path, resume=True, seed=1)


class Stop(Exception):
    pass


def test_on_batch_hears_each_step_and_raising_in_it_keeps_the_last_whole_epoch(trained, tmp_path):
    model, result, *_ = trained
    path, heard = tmp_path / "decoder.pt", []

    def stop_in_the_second_epoch(done, total):
        heard.append((done, total))
        if done == 4:
            raise Stop

    with pytest.raises(Stop):  # 27 training images, 9 a batch: 3 steps an epoch, 9 in 3 epochs
        train(model, photo_crops(), path, on_batch=stop_in_the_second_epoch)
    assert heard == [(1, 9), (2, 9), (3, 9), (4, 9)]
    heard.clear()
    resumed = train(model, photo_crops(), path, resume=True, on_batch=lambda *call: heard.append(call))
    assert heard == [(step, 6) for step in range(1, 7)]  # epochs 2 and 3 are this run's
    assert [stats.epoch for stats in resumed.history] == [0, 1, 2, 3]
    assert resumed.final.val_loss == pytest.approx(result.final.val_loss, rel=1e-4)


def test_a_decoder_refuses_a_model_whose_weights_hash_differs(trained, tmp_path):
    model, result, *_ = trained
    other = small_model(seed=1)
    assert other.weights_hash != model.weights_hash
    with pytest.raises(PVError, match="trained for another model"):
        load_decoder(result.path, other)
    with pytest.raises(PVError, match="trained for another model"):
        train(other, photo_crops(), result.path, resume=True)
    decoder = load_decoder(result.path, model)
    with pytest.raises(PVError, match="trained for another model"):
        pv_images(other, other.preprocess(photo_crops(2)), [0, 1], decoder=decoder)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PVError, match="cannot read"):
        load_decoder(tmp_path / "junk.pt", model)


def test_loaded_decoder_reconstructs_like_the_trained_one(trained):
    model, result, *_ = trained
    decoder = load_decoder(result.path, model)
    x = model.to_display(model.preprocess(photo_crops(4, seed=2)))
    with torch.no_grad():
        y = decoder(encoder_of(model)(x))
    assert y.shape == x.shape and not decoder.training


def test_pv_images_compose_gradcam_over_the_reconstruction(trained):
    model, result, *_ = trained
    images = model.preprocess(photo_crops(3, seed=3))
    targets = [0, 3, 7]

    pv = explain(model, images, targets, "pv", decoder=result.path)

    maps = explain(model, images, targets, "gradcam")
    with torch.no_grad():
        reconstruction = load_decoder(result.path, model)(encoder_of(model)(model.to_display(images)))
    torch.testing.assert_close(pv, compose_pv(maps, reconstruction))
    assert "gradcam" in CAM_METHODS and pv.shape == (3, 3, 32, 32)
    assert not torch.equal(
        pv, explain(model, images, targets, "pv", decoder=result.path, saliency="layercam")
    )


def test_a_grey_model_gets_a_grey_decoder_whose_pv_images_are_grey(trained, tmp_path):
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32, "grayscale": True})
    grey = [np.repeat(c.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2) for c in photo_crops(12)]
    result = train(model, grey, tmp_path / "grey.pt", epochs=1)
    decoder = load_decoder(result.path, model)
    assert model.grayscale and decoder.config.grayscale
    pv = explain(model, model.preprocess(grey[:3]), [0, 3, 7], "pv", decoder=decoder)
    assert torch.equal(pv[:, 0], pv[:, 1]) and torch.equal(pv[:, 0], pv[:, 2])
    colour_model, colour_result, *_ = trained
    assert not load_decoder(colour_result.path, colour_model).config.grayscale


def test_bad_inputs_are_refused_and_leave_no_file(tmp_path):
    model = small_model()
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out" / "decoder.pt"
    for images, options in [
        (tmp_path / "empty", {}),
        (tmp_path / "missing", {}),
        (photo_crops(1), {}),
        (photo_crops(4), {"val_fraction": 0}),
        (photo_crops(4), {"loss_weights": (0, 0, 0)}),
        (photo_crops(4), {"device": "tpu"}),
    ]:
        with pytest.raises(PVError):
            train(model, images, out, **options)
    assert not (tmp_path / "out").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_with_bfloat16_autocast(tmp_path):
    model = small_model()
    result = train(model, photo_crops(), tmp_path / "decoder.pt", device="cuda")
    assert result.final.val_loss < result.history[0].val_loss
    assert model.device.type == "cpu"  # given back where it was
    decoder = load_decoder(result.path, model.to("cuda"))
    images = model.preprocess(photo_crops(2, seed=4))
    pv = pv_images(model, images, [1, 2], decoder=decoder)
    assert pv.device.type == "cuda" and pv.dtype == torch.float32 and pv.shape == (2, 3, 32, 32)
