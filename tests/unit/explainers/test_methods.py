"""The registry of method names: every explain() method has a label, aliases resolve, lists parse."""
import pytest

import explainers
from explainers import ExplainError
from explainers.methods import ALIASES, LABELS, label, parse_methods
from explainers.precompute import method_params


def test_every_method_has_a_label_and_every_alias_a_method():
    assert set(LABELS) == set(explainers.METHODS)
    assert set(ALIASES.values()) <= set(LABELS)
    assert label("gradcampp") == label("Grad-CAM++") == "Grad-CAM++"


def test_parse_methods_resolves_aliases_in_order():
    text = "gradient, GBP ,smoothgrad,ig,Grad-CAM,lrp,deeplift,fem"
    assert parse_methods(text) == ["gradient", "guided_backprop", "smoothgrad", "integrated_gradients",
                                   "gradcam", "lrp", "deeplift", "fem"]  # the JEI review's Table 1


@pytest.mark.parametrize(("text", "message"), [
    ("gradcam,nonsense", "unknown method 'nonsense'"),
    ("gradcam,grad-cam", "more than once"),
    (" , ", "no method named"),
    ("gradcam,pv", "cannot be used here"),
])
def test_parse_methods_refuses_bad_lists(text, message):
    with pytest.raises(ExplainError, match=message):
        parse_methods(text, allowed=[m for m in LABELS if m != "pv"])


@pytest.mark.parametrize("method", [m for m in explainers.METHODS if m != "pv"])
def test_every_method_has_cacheable_parameters(method):
    params = method_params(method, None)
    assert "baseline" not in params and all(not callable(v) for v in params.values())
