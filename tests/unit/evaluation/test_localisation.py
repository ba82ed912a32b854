"""The pointing game against Quantus' PointingGame on its synthetic all-in / none-in / half-in
cases; the energy-based game and the VOC boxes by hand."""
import numpy as np
import pytest
from quantus import PointingGame

from evaluation import EvaluationError, box_mask, energy_pointing_game, pointing_game, read_voc_annotation


def synthetic_cases(size: int = 64):
    """Quantus' localisation cases: a square object; the map's maximum region all inside it, all
    outside it, or straddling its edge half in, half out. (3, H, W) maps and masks."""
    rng = np.random.default_rng(0)
    mask = np.zeros((size, size), dtype=bool)
    mask[16:48, 16:48] = True
    maps = rng.uniform(0, 0.5, (3, size, size))
    maps[0, 20:30, 20:30] = 1.0  # all in
    maps[1, 0:10, 50:60] = 1.0  # none in
    maps[2, 10:22, 30:40] = 1.0  # half in: rows 10-15 out, 16-21 in
    return maps, np.stack([mask] * 3)


def test_pointing_game_matches_quantus_on_its_synthetic_cases():
    maps, masks = synthetic_cases()
    ours = pointing_game(maps, masks)
    theirs = PointingGame(disable_warnings=True, normalise=False, abs=False)(
        model=None, x_batch=np.zeros((3, 1, 64, 64)), y_batch=np.zeros(3, dtype=int),
        a_batch=maps[:, None], s_batch=masks[:, None].astype(float), channel_first=True)
    np.testing.assert_array_equal(ours, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(ours, np.asarray(theirs, dtype=float))


def test_pointing_game_tolerance_and_empty_masks():
    maps, masks = synthetic_cases()
    maps[1] = 0.0
    maps[1, 10, 20] = 1.0  # 6 px above the object
    assert pointing_game(maps[1:2], masks[1:2], tolerance=5)[0] == 0.0
    assert pointing_game(maps[1:2], masks[1:2], tolerance=6)[0] == 1.0
    assert np.isnan(pointing_game(maps[:1], np.zeros_like(masks[:1])))[0]


def test_energy_pointing_game_by_hand():
    maps, masks = synthetic_cases()
    expected = [(m * k).sum() / m.sum() for m, k in zip(maps, masks)]
    np.testing.assert_allclose(energy_pointing_game(maps, masks), expected)
    uniform = np.ones((1, 64, 64))
    assert energy_pointing_game(uniform, masks[:1])[0] == pytest.approx(32 * 32 / 64**2)
    with pytest.raises(EvaluationError, match="non-negative"):
        energy_pointing_game(-uniform, masks[:1])


VOC = """<annotation><filename>2008_000001.jpg</filename><size><width>200</width><height>100</height>
<depth>3</depth></size>
<object><name>dog</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>100</xmax><ymax>50</ymax></bndbox></object>
<object><name>cat</name>
<bndbox><xmin>151</xmin><ymin>51</ymin><xmax>200</xmax><ymax>100</ymax></bndbox></object>
</annotation>"""


def test_voc_boxes_scaled_to_the_map_size(tmp_path):
    path = tmp_path / "2008_000001.xml"
    path.write_text(VOC)
    annotation = read_voc_annotation(path)
    assert (annotation.filename, annotation.width, annotation.height) == ("2008_000001.jpg", 200, 100)
    assert [b.label for b in annotation.boxes] == ["dog", "cat"]
    dog = box_mask(annotation, (50, 50), {"dog"})  # x scaled by 1/4, y by 1/2
    expected = np.zeros((50, 50), dtype=bool)
    expected[0:25, 0:25] = True
    np.testing.assert_array_equal(dog, expected)
    both = box_mask(annotation, (100, 200))
    assert both.sum() == 100 * 50 + 50 * 50
    (tmp_path / "broken.xml").write_text("<annotation><size>")
    with pytest.raises(EvaluationError, match="broken.xml"):
        read_voc_annotation(tmp_path / "broken.xml")
