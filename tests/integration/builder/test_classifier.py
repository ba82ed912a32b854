"""Training the demo classifier: it learns, the seed fixes the weights, bad data is refused."""

import numpy as np
import pytest
import torch

from explainers.classifier import TrainingError, to_tensor, train_classifier
from explainers.nets import SmallCNN

STATS = {"size": 32, "mean": (0.286,) * 3, "std": (0.353,) * 3}


def train(fashion, seed: int):
    torch.manual_seed(123)  # the same initial weights; only the training seed varies
    model = SmallCNN(num_classes=10)
    result = train_classifier(
        model,
        (fashion["x_train"][:1000], fashion["y_train"][:1000]),
        (fashion["x_test"][:200], fashion["y_test"][:200]),
        epochs=1,
        seed=seed,
        progress=False,
        **STATS,
    )
    return model, result


@pytest.fixture(scope="module")
def trained(fashion):
    return train(fashion, seed=0)


def test_training_learns_and_is_reproducible_under_a_seed(fashion, trained):
    model, result = trained
    again, same = train(fashion, seed=0)
    _, other = train(fashion, seed=1)
    # 16 steps of Adam already beat chance (0.1) far beyond noise (200 test images: SD about 0.02).
    assert result.test_accuracy > 0.25 and result.final_loss < np.log(10)
    assert (result.n_train, result.n_test, result.epochs) == (1000, 200, 1)
    assert same == result
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert other.final_loss != result.final_loss


def test_accuracy_matches_a_count_by_hand(fashion, trained):
    model, result = trained
    with torch.no_grad():
        predicted = model(to_tensor(fashion["x_test"][:200], **STATS)).argmax(1).numpy()
    assert result.test_accuracy == pytest.approx(np.mean(predicted == fashion["y_test"][:200]))


def test_to_tensor_matches_the_models_preprocessing():
    image = np.arange(28 * 28, dtype=np.uint8).reshape(1, 28, 28)
    x = to_tensor(image, 28, (0.5,) * 3, (0.25,) * 3)
    assert x.shape == (1, 3, 28, 28)
    assert torch.allclose(x[0, 1], (torch.from_numpy(image[0]).float() / 255 - 0.5) / 0.25)


def test_bad_training_data_is_refused(fashion):
    with pytest.raises(TrainingError, match="uint8"):
        to_tensor(np.zeros((2, 28, 28), np.float32), 32, (0,) * 3, (1,) * 3)
    with pytest.raises(TrainingError, match="as many labels as images"):
        train_classifier(
            SmallCNN(),
            (fashion["x_train"][:10], fashion["y_train"][:9]),
            (fashion["x_test"][:5], fashion["y_test"][:5]),
            progress=False,
            **STATS,
        )
