"""PNG thumbnails of a series' middle slice for the worklist."""

from __future__ import annotations

import io

import numpy as np
from django.core.cache import cache

from studies.dicom.pixels import load_pixels
from studies.models import Series
from studies.slices import ordered_instances

from .display_window import series_default_window

THUMB_SIZE = 160


def series_thumbnail_png(series: Series) -> bytes:
    key = f"thumb:{series.pk}:{series.instances.count()}"
    png = cache.get(key)
    if png is not None:
        return png
    from matplotlib.image import imsave

    instances = list(ordered_instances(series))
    middle = instances[len(instances) // 2]
    values = load_pixels(middle.file.path, frame=middle.frame_number).values
    window = series_default_window(series)  # the viewer's default window (studies.dicom.window)
    lo, hi = (window["lower"], window["upper"]) if window else np.percentile(values, [1, 99.5])
    img = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    step = max(1, int(np.ceil(max(img.shape) / THUMB_SIZE)))
    buf = io.BytesIO()
    imsave(buf, img[::step, ::step], cmap="gray", format="png")
    png = buf.getvalue()
    cache.set(key, png, 3600)
    return png
