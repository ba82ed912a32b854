"""compose_pv is exactly eq. 2 of the PV paper: p = (1 - m) + m * y."""

import numpy as np
import pytest
import torch

from explainers.pv import PVError, compose_pv


def test_eq2_on_random_inputs_white_where_m_is_0_and_y_where_m_is_1():
    generator = torch.Generator().manual_seed(0)
    m = torch.rand(4, 24, 32, generator=generator)
    m[m < 0.2] = 0.0
    m[m > 0.8] = 1.0
    y = torch.rand(4, 3, 24, 32, generator=generator)

    p = compose_pv(m, y)

    assert p.shape == (4, 3, 24, 32)
    mask = m.unsqueeze(1).expand_as(y)
    assert (mask == 0).any() and (mask == 1).any()
    assert torch.equal(p[mask == 0], torch.ones_like(p[mask == 0]))
    assert torch.equal(p[mask == 1], y[mask == 1])
    expected = (1 - m.double().numpy()[:, None]) + m.double().numpy()[:, None] * y.double().numpy()
    np.testing.assert_allclose(p.numpy(), expected, rtol=0, atol=1e-6)


def test_output_stays_in_unit_range_and_keeps_dtype():
    m = torch.rand(2, 8, 8, dtype=torch.float64)
    y = torch.rand(2, 3, 8, 8, dtype=torch.float16)
    p = compose_pv(m, y)
    assert p.dtype == torch.float16
    assert p.min() >= 0 and p.max() <= 1


@pytest.mark.parametrize(
    "m_shape, y_shape",
    [
        ((2, 8, 8), (2, 1, 8, 8)),
        ((2, 8, 8), (3, 3, 8, 8)),
        ((2, 8, 9), (2, 3, 8, 8)),
        ((2, 1, 8, 8), (2, 3, 8, 8)),
    ],
)
def test_mismatched_shapes_are_refused(m_shape, y_shape):
    with pytest.raises(PVError):
        compose_pv(torch.rand(m_shape), torch.rand(y_shape))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_values_outside_unit_range_are_refused(bad):
    m = torch.rand(1, 4, 4)
    m[0, 0, 0] = bad
    with pytest.raises(PVError, match="saliency"):
        compose_pv(m, torch.rand(1, 3, 4, 4))
    with pytest.raises(PVError, match="reconstruction"):
        compose_pv(torch.rand(1, 4, 4), m.unsqueeze(1).expand(1, 3, 4, 4).clone())
