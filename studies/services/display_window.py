"""The default display window of a series without window tags, computed once and stored on the series.

The rule is :mod:`studies.dicom.window` (1st–99.5th percentile of the body voxels). It is computed lazily, the
first time the series is shown (:func:`studies.dicom_views.series_payload`), and kept in
``Series.default_window`` with the number of slices it was computed from; a series that gained or lost slices
since is computed again. The viewer uses it only for images that carry no Window Center / Width.
"""

from __future__ import annotations

import logging

from studies.dicom.pixels import PixelError, SliceCache, load_pixels
from studies.dicom.window import percentile_window, sample_step
from studies.models import Series
from studies.slices import ordered_instances

log = logging.getLogger(__name__)


def series_default_window(series: Series) -> dict | None:
    """``{"lower": …, "upper": …}`` of the series' default window, or ``None`` when none suits it."""
    instances = list(ordered_instances(series))
    stored = series.default_window
    if not isinstance(stored, dict) or stored.get("slices") != len(instances):
        stored = _compute(series, instances)
        Series.objects.filter(pk=series.pk).update(default_window=stored)
        series.default_window = stored
    if stored.get("lower") is None or stored.get("upper") is None:
        return None
    return {"lower": stored["lower"], "upper": stored["upper"]}


def _compute(series: Series, instances: list) -> dict:
    step = sample_step(len(instances), series.rows, series.columns)
    cache = SliceCache(maxsize=1)  # a private one: a whole series would evict the scoring jobs' slices
    slices = []
    for instance in instances:
        try:
            pixels = load_pixels(instance.file.path, cache=cache, frame=instance.frame_number)
            slices.append(pixels.values[::step, ::step])
        except (OSError, PixelError) as exc:  # an unreadable slice is left out; scoring reports it on its ROIs
            log.warning("default window of series %s: slice %s left out: %s", series.pk, instance.pk, exc)
    window = percentile_window(slices)
    lower, upper = window if window is not None else (None, None)
    return {"lower": lower, "upper": upper, "slices": len(instances)}
