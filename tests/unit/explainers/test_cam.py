"""The CAM family against pytorch-grad-cam, plus FEM by hand, batching, targets and hooks.

pytorch-grad-cam min-max scales each map at the activation resolution and then resizes it with
OpenCV's INTER_LINEAR; `explain` upsamples with torch's bilinear (half-pixel centres, the same
formula) and then scales. Pearson r is blind to that scaling, so maps are compared at the full
input resolution.
"""
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from explainers import ExplainError, explain
from explainers.cam import FEM, fem_map

PEERS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM, "layercam": LayerCAM}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def peer_maps(peer_class, module, layer, images, targets) -> np.ndarray:
    with peer_class(model=module, target_layers=[layer]) as peer:
        return peer(input_tensor=images, targets=[ClassifierOutputTarget(int(t)) for t in targets])


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=20).eval()


@pytest.mark.parametrize("method", sorted(PEERS))
def test_efficientnet_lite0_matches_pytorch_grad_cam(method, lite0, photos):
    images = lite0.preprocess(photos[:3])
    targets = [281, 504, 967]  # tabby cat, coffee mug, espresso: a different class per image
    ours = explain(lite0, images, targets, method).numpy()
    theirs = peer_maps(PEERS[method], lite0.module, lite0.module.get_submodule(lite0.target_layer),
                       images, targets)
    assert ours.shape == theirs.shape == (3, 224, 224)
    for mine, peer in zip(ours, theirs):
        assert pearson(mine, peer) >= 0.99


@pytest.mark.parametrize("method", sorted(PEERS))
def test_resnet_matches_pytorch_grad_cam(method, resnet, photos):
    pixels = np.stack([np.asarray(Image.fromarray(p).convert("RGB").resize((160, 160))) for p in photos])
    images = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255 - 0.45) / 0.25
    targets = [3, 7, 11, 19]
    ours = explain(resnet, images, targets, method, target_layer="layer4").numpy()
    theirs = peer_maps(PEERS[method], resnet, resnet.layer4, images, targets)
    for mine, peer in zip(ours, theirs):
        assert mine.std() > 0
        assert pearson(mine, peer) >= 0.99


def test_maps_are_float32_in_unit_range_on_input_device(small_cnn):
    images = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "fem"):
        maps = explain(small_cnn, images, [1, 2], method, target_layer="features.block3")
        assert maps.dtype == torch.float32 and maps.device == images.device
        assert maps.shape == (2, 24, 24)
        assert float(maps.min()) == 0.0 and float(maps.max()) == 1.0


def test_each_image_gets_its_own_target(lite0, photos):
    images = lite0.preprocess(photos[:3])
    targets = [281, 504, 967]
    batch = explain(lite0, images, targets, "gradcam")
    for i, target in enumerate(targets):
        single = explain(lite0, images[i:i + 1], [target], "gradcam")
        torch.testing.assert_close(batch[i], single[0], atol=1e-4, rtol=0)
    swapped = explain(lite0, images[:1], [504], "gradcam")
    assert pearson(batch[0].numpy(), swapped[0].numpy()) < 0.99  # the target changes the map


@pytest.mark.parametrize("targets", [[1], [1, 2, 3], []])
def test_mismatched_targets_are_refused(targets, small_cnn):
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ExplainError, match="targets for 2 images"):
        explain(small_cnn, images, targets, "gradcam", target_layer="features.block3")


def test_in_place_relu_model_works_and_keeps_its_activation(small_cnn):
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "fem",
                   "gradient", "guided_backprop"):
        maps = explain(small_cnn, images, [0, 4, 9], method, target_layer="features.block3")
        assert maps.shape == (3, 32, 32) and torch.isfinite(maps).all()
    # Grad-CAM by hand: SmallCNN's logit is linear in the pooled activation,
    # so the gradient w.r.t. the activation is fc.weight[target] / (h * w) at every location.
    activation = small_cnn.features(images)
    weights = small_cnn.classifier[-1].weight[[0, 4, 9]].detach()
    by_hand = torch.relu((weights[:, :, None, None] * activation.detach()).sum(1))
    by_hand = torch.nn.functional.interpolate(by_hand[:, None], size=(32, 32), mode="bilinear")[:, 0]
    ours = explain(small_cnn, images, [0, 4, 9], "gradcam", target_layer="features.block3")
    for mine, expected in zip(ours, by_hand):
        assert pearson(mine.numpy(), expected.numpy()) > 0.9999


def test_no_parameter_gradients_and_no_hooks_left(small_cnn):
    images = torch.rand(2, 3, 16, 16)
    layer = small_cnn.features.block3
    for i in range(100):
        method = ("gradcam", "fem", "guided_backprop", "scorecam")[i % 4]
        explain(small_cnn, images, [1, 2], method, target_layer="features.block3")
    assert all(p.grad is None for p in small_cnn.parameters())
    for module in small_cnn.modules():
        assert not module._forward_hooks and not module._backward_hooks
    assert not layer._forward_pre_hooks


def test_hooks_removed_after_an_error(small_cnn):
    with pytest.raises(ExplainError, match="must lie in"):
        explain(small_cnn, torch.rand(1, 3, 16, 16), [99], "gradcam", target_layer="features.block3")
    assert not small_cnn.features.block3._forward_hooks


def test_layer_that_runs_twice_is_refused():
    relu = torch.nn.ReLU()
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), relu, torch.nn.Conv2d(4, 4, 3), relu,
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(ExplainError, match="ran 2 times"):
        explain(module, torch.rand(1, 3, 12, 12), [0], "gradcam", target_layer=relu)


def test_bad_method_layer_and_params_are_clear(small_cnn):
    images = torch.rand(1, 3, 16, 16)
    with pytest.raises(ExplainError, match="unknown method"):
        explain(small_cnn, images, [0], "nonsense", target_layer="features.block3")
    with pytest.raises(ExplainError, match="not a submodule"):
        explain(small_cnn, images, [0], "gradcam", target_layer="features.block9")
    with pytest.raises(ExplainError, match="needs a target_layer"):
        explain(small_cnn, images, [0], "gradcam")
    with pytest.raises(ExplainError, match="takes no parameter"):
        explain(small_cnn, images, [0], "gradcam", target_layer="features.block3", k=2)


def test_fem_matches_the_formula_worked_by_hand():
    # One image, two channels of 2 x 2.
    # Channel 0: [[0, 0], [0, 4]] -> mean 1, population std sqrt(3) = 1.732; threshold 2.732:
    #            binary [[0, 0], [0, 1]], weight = mean = 1.
    # Channel 1: [[2, 2], [2, 2]] -> mean 2, std 0; threshold 2, nothing is strictly above:
    #            binary all 0.
    # Channel 2: [[3, 0], [0, 1]] -> mean 1, std sqrt(1.5) = 1.225; threshold 2.225:
    #            binary [[1, 0], [0, 0]], weight 1.
    # Sum: [[1, 0], [0, 1]].
    activation = torch.tensor([[[[0., 0.], [0., 4.]], [[2., 2.], [2., 2.]], [[3., 0.], [0., 1.]]]])
    torch.testing.assert_close(fem_map(activation), torch.tensor([[[1., 0.], [0., 1.]]]))
    # K = 0.5: channel 0 threshold 1.866 (same), channel 2 threshold 1.612 (same), still [[1,0],[0,1]];
    # K = 0: channel 1 threshold 2 (none), channel 2 threshold 1: only the 3 -> weight 1.
    torch.testing.assert_close(fem_map(activation, k=0.0), torch.tensor([[[1., 0.], [0., 1.]]]))


def test_fem_is_not_class_specific(small_cnn):
    images = torch.rand(2, 3, 16, 16)
    fem = FEM(small_cnn, "features.block3")
    torch.testing.assert_close(fem(images, [0, 1]), fem(images, [5, 9]))


def test_pv_dispatches_to_the_pv_package(monkeypatch, small_cnn):
    import explainers.pv

    seen = {}

    def fake_pv_images(model, images, targets, **params):
        seen.update(model=model, targets=targets, params=params)
        return torch.zeros(len(images), 3, *images.shape[-2:])

    monkeypatch.setattr(explainers.pv, "pv_images", fake_pv_images)
    out = explain(small_cnn, torch.rand(2, 3, 8, 8), [1, 2], "pv", decoder="d.pt", saliency="fem")
    assert out.shape == (2, 3, 8, 8)
    assert seen == {"model": small_cnn, "targets": [1, 2], "params": {"decoder": "d.pt", "saliency": "fem"}}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_maps_stay_on_the_device_and_match_the_cpu(small_cnn):
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    for method in ("gradcam", "gradcam++", "xgradcam", "layercam", "scorecam", "fem", "gradient",
                   "integrated_gradients", "guided_backprop"):
        on_cpu = explain(small_cnn, images, [0, 4, 9], method, target_layer="features.block3")
        on_gpu = explain(small_cnn.cuda(), images.cuda(), [0, 4, 9], method, target_layer="features.block3")
        small_cnn.cpu()
        assert on_gpu.device.type == "cuda"
        torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=2e-3, rtol=0)
