"""Issue #23: the default window of a series without window tags — 1st–99.5th percentile of the body voxels
(studies.dicom.window) — computed once, stored on the series and served with the series payload."""

from __future__ import annotations

import numpy as np
import pytest

from studies.dicom import window as w
from studies.dicom.window import percentile_window, sample_step
from tests import factories as f


def _mr_volume(rng, n=8, rows=64, cols=64):
    """Air (0 or low noise) around a body of muscle (~400) with bright fat (~1000) and a few hot pixels."""
    vol = np.abs(rng.normal(0, 8, size=(n, rows, cols)))  # Rayleigh-like background noise
    vol[:, :32, :] = 0  # zero-filled half
    body = np.zeros((rows, cols), bool)
    body[36:60, 8:56] = True
    vol[:, body] = rng.normal(400, 40, size=(n, int(body.sum())))
    vol[:, 36:40, 8:56] = rng.normal(1000, 50, size=(n, 4, 48))  # subcutaneous fat
    vol[:, 50, 30] = 6000  # hot pixels (flow artefact)
    return vol


def test_window_is_the_body_percentiles():
    vol = _mr_volume(np.random.default_rng(23))
    lower, upper = percentile_window(list(vol))
    values = vol.ravel()
    body = values[values > w.BODY_FRACTION * np.percentile(values, 99)]
    assert (lower, upper) == tuple(np.percentile(body, [1, 99.5]))
    assert 250 < lower < 400 < upper < 1200  # air left out below, hot pixels clipped above
    assert values.max() == 6000 and values.min() == 0  # what min–max would have shown


def test_air_noise_is_not_body():
    vol = _mr_volume(np.random.default_rng(1))
    with_air = percentile_window(list(vol))
    body_only = vol[:, 36:60, 8:56]
    assert with_air == pytest.approx(percentile_window(list(body_only)), rel=0.02)


@pytest.mark.parametrize(
    "slices",
    [[], [np.zeros((4, 4))], [np.full((4, 4), 7.0)], [np.full((3, 3), -5.0)], [np.full((2, 2), np.nan)]],
    ids=["no slices", "blank", "one value", "negative", "not finite"],
)
def test_no_window_when_nothing_suits(slices):
    assert percentile_window(slices) is None


def test_sample_step_bounds_the_voxels():
    assert sample_step(49, 350, 349) == 2  # the real series: 6.0 M voxels -> every 2nd row and column
    assert sample_step(10, 64, 64) == 1
    for n, r, c in ((200, 512, 512), (1, 4096, 4096), (0, 0, 0)):
        step = sample_step(n, r, c)
        assert max(n, 1) * -(-r // step) * -(-c // step) <= w.MAX_VOXELS * 1.01


@pytest.mark.django_db
def test_the_series_payload_carries_the_stored_window(monkeypatch):
    from studies.dicom_views import series_payload
    from studies.models import Series
    from studies.services import display_window

    rng = np.random.default_rng(5)
    volume = _mr_volume(rng, n=4).round().astype(np.uint16)
    case = f.make_case(f.make_study(), n_slices=4, rows=64, cols=64, value_fn=lambda k, rows, cols: volume[k])
    series = Series.objects.get(pk=case.primary_series_id)
    assert series.default_window is None  # not computed before it is first shown

    payload = series_payload(series)
    lower, upper = percentile_window(list(volume.astype(float)))
    assert payload["default_window"] == {"lower": lower, "upper": upper}
    assert Series.objects.get(pk=series.pk).default_window == {"lower": lower, "upper": upper, "slices": 4}

    calls = []
    monkeypatch.setattr(display_window, "load_pixels", lambda *a, **k: calls.append(a) or None)
    assert series_payload(Series.objects.get(pk=series.pk))["default_window"] == payload["default_window"]
    assert calls == []  # stored: not computed again


@pytest.mark.django_db
def test_a_blank_series_gets_no_window_and_is_not_recomputed(monkeypatch):
    from studies.dicom_views import series_payload
    from studies.models import Series
    from studies.services import display_window

    case = f.make_case(f.make_study(), n_slices=2, value_fn=lambda k, rows, cols: np.zeros((rows, cols)))
    series = Series.objects.get(pk=case.primary_series_id)
    assert series_payload(series)["default_window"] is None
    assert Series.objects.get(pk=series.pk).default_window == {"lower": None, "upper": None, "slices": 2}
    monkeypatch.setattr(display_window, "percentile_window", lambda *a: pytest.fail("computed again"))
    assert series_payload(Series.objects.get(pk=series.pk))["default_window"] is None
