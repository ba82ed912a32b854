"""load_model: the bundled model, JSON specs with checkpoints, and every loading error."""
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from explainers import ModelLoadError, load_model, predict
from explainers.models import default_target_layer, weights_hash
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
    torch.save(model.module, tmp_path / "full.pt")  # a full pickled module loads too
    again = load_model({"checkpoint": str(tmp_path / "full.pt"), "num_classes": 4,
                        "target_layer": "features.block3"})
    assert again.weights_hash == model.weights_hash
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
