"""The intro's worked example shows the input image beside its explanation, as a question page does."""
import numpy as np
import pytest
from PIL import Image

from study.building.build import build_study
from study.building.rendering import EXAMPLE_GAP
from study.building.request import BuildRequest
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db


def test_the_example_pairs_an_unused_image_with_its_explanation_and_the_intro_shows_it(
    tiny_spec, csv_dataset, isolated_media, client
):
    request = BuildRequest(slug="s1", model=str(tiny_spec), dataset=csv_dataset, arms=("gradcam",),
                           n_correct=3, n_incorrect=2, seed=7, open=True)
    study = build_study(request, progress=False)
    arm = study.arms.get()
    with Image.open(arm.example_image.path) as opened:
        pair = np.asarray(opened.convert("RGBA"), dtype=np.float32)
    height, width = pair.shape[0], (pair.shape[1] - EXAMPLE_GAP) // 2
    assert (height, width) == (224, 224) and pair.shape[1] == 2 * width + EXAMPLE_GAP
    image, gap, explanation = pair[:, :width], pair[:, width:-width], pair[:, -width:]
    assert (image[..., 3] == 255).all() and (gap[..., 3] == 0).all() and (explanation[..., 3] == 255).all()

    # The left half is one data-set image, enlarged as items are (bicubic to 224 px), and not an item.
    def display(path) -> np.ndarray:
        with Image.open(path) as source:
            return np.asarray(source.convert("RGB").resize((224, 224), Image.BICUBIC), dtype=np.float32)

    matches = [p.name for p in sorted(csv_dataset.glob("*.png")) if np.array_equal(display(p), image[..., :3])]
    assert len(matches) == 1 and matches[0] not in set(study.items.values_list("name", flat=True))
    # The right half is that image masked on white: never darker, white where the map is 0, not the image.
    assert (explanation[..., :3] >= image[..., :3] - 1).all()
    assert (explanation[..., :3] == 255).all(axis=-1).any()
    assert not np.array_equal(explanation, image)

    participant = consent(client, study.slug)
    page = client.get(f"/p/{participant.token}/").content.decode()
    assert f'<img class="example" src="{arm.example_image.url}"' in page
    assert "the image on the left, its explanation on the right" in page
