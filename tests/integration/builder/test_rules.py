"""The paper's item rules and option composition, on hand-made cases."""

import random
from pathlib import Path

import pytest

from study.models.study import CANT_TELL
from study.building.request import BuildError
from study.building.selection import Classified, judge, sample
from study.building.options import compose_options
from study.building.datasets import LabelledImage

CLASSES = [f"c{i}" for i in range(10)]


@pytest.mark.parametrize(
    "top1, predicted, truth, multi_label, expected",
    [
        ("cat", ["cat"], ["cat"], False, True),
        ("dog", ["dog"], ["cat"], False, False),
        ("cat", ["cat", "dog"], ["cat", "dog"], True, True),  # set equality
        ("cat", ["cat"], ["cat", "dog"], True, None),  # a true label missing: neither
        ("cat", ["cat", "car"], ["cat"], True, None),  # an extra label: neither
        ("car", ["car", "bus"], ["cat", "dog"], True, False),  # no true label predicted
    ],
)
def test_judge_follows_the_papers_rules(top1, predicted, truth, multi_label, expected):
    assert judge(top1, predicted, truth, multi_label) is expected


def test_options_of_a_correct_single_label_item_are_the_prediction_three_random_classes_and_cant_tell():
    options = compose_options("c3", ["c3"], CLASSES, random.Random(0))
    assert len(options) == 5 and len(set(options)) == 5
    assert options[0] == "c3" and options[-1] == CANT_TELL
    assert set(options[1:4]) <= set(CLASSES) - {"c3"}


def test_options_of_a_misclassified_item_include_the_true_label():
    options = compose_options("c3", ["c7"], CLASSES, random.Random(0))
    assert options[0] == "c3" and options[1] == "c7" and len(set(options)) == 5


def test_more_than_three_other_true_labels_are_cut_to_three():
    truth = ["c1", "c2", "c3", "c4", "c5"]
    options = compose_options("c1", truth, CLASSES, random.Random(0))
    assert options[0] == "c1" and len(options) == 5
    assert set(options[1:4]) <= {"c2", "c3", "c4", "c5"}


def test_fillers_come_from_the_pool_in_order_of_preference():
    # Only two data-set classes besides the prediction: the third filler comes from the model's classes.
    options = compose_options("a", ["a"], ["a", "b", "c", "x"], random.Random(0))
    assert sorted(options[1:4]) == ["b", "c", "x"]
    short = compose_options("a", ["a"], ["a", "b"], random.Random(0))
    assert short == ["a", "b", CANT_TELL]


def _candidates(n_per_class: dict[str, int]) -> list[Classified]:
    return [
        Classified(LabelledImage(f"{c}_{i}.png", Path(f"{c}_{i}.png"), (c,)), c, (c,), True)
        for c, n in n_per_class.items()
        for i in range(n)
    ]


def test_sampling_is_stratified_by_predicted_class_and_reproducible():
    candidates = _candidates({"a": 20, "b": 20, "c": 3, "d": 20})
    picked = sample(candidates, 10, random.Random(1), "correct")
    counts = {c: sum(p.top1 == c for p in picked) for c in "abcd"}
    assert sum(counts.values()) == 10 and len({p.image.name for p in picked}) == 10
    assert max(counts.values()) - min(counts.values()) <= 1  # as even as the classes allow
    assert [p.image.name for p in sample(candidates, 10, random.Random(1), "correct")] == [
        p.image.name for p in picked
    ]


def test_sampling_takes_the_rest_from_larger_classes_when_one_runs_out():
    picked = sample(_candidates({"a": 1, "b": 10}), 8, random.Random(0), "correct")
    assert sum(p.top1 == "a" for p in picked) == 1 and len(picked) == 8


def test_too_few_candidates_say_how_many_exist():
    with pytest.raises(BuildError, match="only 4 misclassified images qualify, 5 requested"):
        sample(_candidates({"a": 4}), 5, random.Random(0), "misclassified")
