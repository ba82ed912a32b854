"""load_model: the bundled model, JSON specs with checkpoints (state dicts and safetensors; a pickled module
only when trusted), and every loading error."""
import json
import os

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from explainers import ModelLoadError, load_model, predict
from explainers.models import default_target_layer, trusted_spec, weights_hash
from explainers.nets import SmallCNN


def test_bundled_efficientnet_lite0_classifies_real_photos(lite0, photos):
    assert lite0.input_size == 224 and lite0.mean == (0.5, 0.5, 0.5) and not lite0.module.training
    assert len(lite0.class_names) == 1000 and lite0.target_layer == "_bn1"
    images = lite0.preprocess([photos[1], photos[2]])  # chelsea the cat, a cup of coffee
    assert images.shape == (2, 3, 224, 224) and -1 <= float(images.min()) and float(images.max()) <= 1
    probabilities = predict(lite0, images, batch_size=1)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
    top = [lite0.class_names[i] for i in probabilities.argmax(dim=1)]
    assert top[0] in {"tabby", "tiger cat", "Egyptian cat"} and top[1] in {"espresso", "cup", "coffee mug"}


def test_preprocess_accepts_paths_arrays_and_grey_images_and_undoes(tmp_path, lite0, photos):
    Image.fromarray(photos[0]).save(tmp_path / "a.png")
    grey = Image.fromarray(photos[0]).convert("L")
    batch = lite0.preprocess([tmp_path / "a.png", photos[0], grey])
    torch.testing.assert_close(batch[0], batch[1])
    display = lite0.to_display(batch)
    expected = torch.from_numpy(np.array(
        Image.fromarray(photos[0]).resize((224, 224), Image.BILINEAR))).permute(2, 0, 1) / 255
    torch.testing.assert_close(display[0], expected, atol=1e-5, rtol=0)
    assert torch.allclose(display[2][0], display[2][1])  # grey -> three equal channels


def _spec(tmp_path, module, **fields) -> dict:
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    names = [f"class {i}" for i in range(fields.get("num_classes", 4))]
    (tmp_path / "classes.txt").write_text("\n".join(names))
    spec = {"arch": "small_cnn", "checkpoint": "weights.pt", "num_classes": 4, "class_names": "classes.txt",
            "input_size": 32, **fields}
    (tmp_path / "model.json").write_text(json.dumps(spec))
    return spec


def test_json_spec_with_relative_paths_and_stable_hash(tmp_path, monkeypatch):
    torch.manual_seed(0)
    module = SmallCNN(num_classes=4)
    _spec(tmp_path, module, multi_label=True, threshold=0.3)
    monkeypatch.chdir("/")
    model = load_model(tmp_path / "model.json")
    assert model.name == "model" and model.class_names == ("class 0", "class 1", "class 2", "class 3")
    assert model.multi_label and model.threshold == 0.3 and model.target_layer == "features.block3"
    assert model.weights_hash == weights_hash(module)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(model.module.state_dict()[key], value)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(predict(model, images), module.eval()(images).sigmoid())
    module.features.block1[0].weight.data[0, 0, 0, 0] += 1
    assert weights_hash(module) != model.weights_hash


def test_default_target_layers():
    model = load_model({"arch": "resnet18", "num_classes": 3, "class_names": ["a", "b", "c"]})
    assert model.target_layer == "layer4" and model.mean == (0.485, 0.456, 0.406)
    vgg_like = torch.nn.Module()  # VGG's layout, without building 130 M parameters
    nn = torch.nn
    vgg_like.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(True), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 4, 3), nn.ReLU(True), nn.MaxPool2d(2))
    assert default_target_layer(vgg_like, "vgg16") == "features.4"
    assert default_target_layer(torchvision.models.mobilenet_v3_small(), "mobilenet_v3_small") == "features"


@pytest.mark.parametrize(("change", "message"), [
    ({"checkpoint": "nowhere.pt"}, "checkpoint not found"),
    ({"arch": "resnet9000"}, "unknown architecture 'resnet9000'"),
    ({"num_classes": 5}, r"shape mismatch.*classifier.3.weight: checkpoint \(4, 128\) vs model \(5, 128\)"),
    ({"class_names": ["only", "three", "names"]}, "3 class names given but num_classes is 4"),
    ({"class_names": "missing.txt"}, "class-name file not found"),
    ({"arch": "resnet18"}, "does not fit the architecture"),
    ({"target_layer": "features.block7"}, "target layer 'features.block7' is not a submodule"),
    ({"colour": "blue"}, "unknown keys in model spec: \\['colour'\\]"),
])
def test_loading_errors_are_clear(tmp_path, change, message):
    spec = _spec(tmp_path, SmallCNN(num_classes=4))
    spec.update(change)
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match=message):
        load_model(tmp_path / "model.json")


def test_spec_that_is_neither_bundled_nor_a_file():
    with pytest.raises(ModelLoadError, match="neither 'efficientnet-lite0' nor an existing JSON file"):
        load_model("efficientnet-lite9")


def _same_weights(model, module) -> None:
    assert model.module.state_dict().keys() == module.state_dict().keys()
    for key, value in module.state_dict().items():
        torch.testing.assert_close(model.module.state_dict()[key], value, rtol=0, atol=0)


def test_state_dicts_and_safetensors_load_the_same_weights_whatever_the_file_name(tmp_path):
    torch.manual_seed(0)
    module = SmallCNN(num_classes=4)
    spec = _spec(tmp_path, module)
    torch.save({"state_dict": module.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    save_file(module.state_dict(), tmp_path / "weights.safetensors")
    save_file(module.state_dict(), tmp_path / "named-like-torch.pt")  # told apart by content, not name
    loaded = [load_model({**spec, "checkpoint": str(tmp_path / name), "class_names": None})
              for name in ("weights.pt", "wrapped.pth", "weights.safetensors", "named-like-torch.pt")]
    for model in loaded:
        _same_weights(model, module)
        assert model.weights_hash == weights_hash(module)


class _Payload:
    """Unpickling this runs a shell command that creates `marker`, as a crafted checkpoint would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_pickle_is_refused_without_running(tmp_path):
    spec = _spec(tmp_path, SmallCNN(num_classes=4))
    marker = tmp_path / "ran"
    torch.save({"features.block1.0.weight": _Payload(marker)}, tmp_path / "weights.pt")
    with pytest.raises(ModelLoadError, match=r"weights.pt was refused.*state dict saved with torch.save "
                                             r"\(.pt, .pth\) or a safetensors file.*--trust-checkpoint"):
        load_model(tmp_path / "model.json")
    assert not marker.exists()
    torch.load(tmp_path / "weights.pt", weights_only=False)  # the file is a live payload:
    assert marker.exists()  # unpickled, it runs its command


def test_a_full_pickled_module_loads_only_from_a_trusted_spec(tmp_path, monkeypatch):
    torch.manual_seed(0)
    module = SmallCNN(num_classes=4)
    spec = _spec(tmp_path, module)
    torch.save(module, tmp_path / "full.pt")
    spec = {key: value for key, value in spec.items() if key != "arch"} | {"checkpoint": "full.pt"}
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match="full.pt was refused"):
        load_model(tmp_path / "model.json")
    monkeypatch.chdir("/")  # the trusted spec resolves the file's relative paths against its folder
    model = load_model(trusted_spec(tmp_path / "model.json"))
    _same_weights(model, module)
    assert model.name == "model" and model.class_names[3] == "class 3"
    assert trusted_spec("efficientnet-lite0") == "efficientnet-lite0"
    # A spec file cannot ask for trust itself (a researcher's upload could be such a file).
    (tmp_path / "model.json").write_text(json.dumps(spec | {"trust_checkpoint": True}))
    with pytest.raises(ModelLoadError, match="'trust_checkpoint' cannot be set in a spec file"):
        load_model(tmp_path / "model.json")


def test_a_safetensors_file_with_wrong_shapes_or_broken_bytes_is_named(tmp_path):
    spec = _spec(tmp_path, SmallCNN(num_classes=4))
    save_file(SmallCNN(num_classes=5).state_dict(), tmp_path / "five.safetensors")
    mismatch = (r"five.safetensors has shape mismatches \(wrong num_classes\?\): "
                r"classifier.3.weight: checkpoint \(5, 128\) vs model \(4, 128\)")
    with pytest.raises(ModelLoadError, match=mismatch):
        load_model({**spec, "checkpoint": str(tmp_path / "five.safetensors"), "class_names": None})
    whole = (tmp_path / "five.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ModelLoadError, match="cannot read checkpoint .*cut.safetensors as a state dict saved "
                                             "with torch.save"):
        load_model({**spec, "checkpoint": str(tmp_path / "cut.safetensors"), "class_names": None})
    (tmp_path / "noise.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelLoadError, match="noise.pt was refused: it is not a plain state dict"):
        load_model({**spec, "checkpoint": str(tmp_path / "noise.pt"), "class_names": None})
