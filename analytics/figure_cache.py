"""Figure files: drawn from a cached section's plotted points on their first request, then kept.

Figures are rendered on their first request (the page's ``<img>``; not by the job, so that in-process mode
does not make the page wait for matplotlib) and kept under ``MEDIA_ROOT/analytics/`` keyed by the section
digest, so they are redrawn only when the data change. Drawing: :mod:`analytics.figures`.
"""

from __future__ import annotations

import re

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from analytics import figures
from analytics.models import AnalysisCache
from analytics.services import section_for_page
from studies.models import Study

__all__ = ["figure_files", "figure_get", "figure_section"]


def figure_section(name: str) -> str:
    """The cached section a figure is drawn from (``roc-op_vs_rest`` → ``roc:op_vs_rest``)."""
    for prefix, (section, _) in figures.FIGURES.items():
        if name.startswith(prefix):
            if section == "roc":
                return section_for_page("roc", name[len(prefix) :])
            return section
    raise KeyError(name)


_SAFE = re.compile(r"^[a-z0-9_-]+$")


def figure_files(
    study: Study, name: str, formats: tuple[str, ...] = tuple(figures.FORMATS), *, section: str | None = None
) -> dict[str, bytes]:
    """The figure in each of ``formats`` from the stored section result, cached under MEDIA_ROOT by the
    section digest (drawn once for all the formats missing from the cache).

    Raises KeyError for an unknown figure or format.
    """
    if any(fmt not in figures.FORMATS for fmt in formats) or not _SAFE.match(name):
        raise KeyError(name)
    section = section or figure_section(name)
    row = AnalysisCache.objects.filter(study=study, section=section).only("inputs_digest", "status", "plots").first()
    if row is None or row.status != AnalysisCache.Status.DONE:
        fig = figures.build(name, None)  # not computed yet: a placeholder, not cached
        return {fmt: figures.render(fig, fmt) for fmt in formats}
    plots = row.plots
    if name not in plots:
        raise KeyError(name)
    out: dict[str, bytes] = {}
    fig = None
    for fmt in formats:
        path = f"analytics/study-{study.pk}/figures/{name}-{row.inputs_digest[:24]}.{fmt}"
        if default_storage.exists(path):
            with default_storage.open(path, "rb") as fh:
                out[fmt] = fh.read()
            continue
        fig = fig or figures.build(name, plots[name])
        out[fmt] = figures.render(fig, fmt)
        _replace_file(path, out[fmt], prefix=f"{name}-", suffix=f".{fmt}")
    return out


def figure_get(study: Study, name: str, fmt: str, *, section: str | None = None) -> bytes:
    """One format of :func:`figure_files`."""
    return figure_files(study, name, (fmt,), section=section)[fmt]


def _replace_file(path: str, content: bytes, *, prefix: str, suffix: str) -> None:
    """Store ``path`` and delete older versions of the same figure (other digests)."""
    folder, _, filename = path.rpartition("/")
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        files = []
    for old in files:
        if old != filename and old.startswith(prefix) and old.endswith(suffix):
            # "ba-vbq-<digest>.svg" must not delete "ba-vbq-extra-…": the rest is exactly the digest.
            if len(old) == len(filename):
                default_storage.delete(f"{folder}/{old}")
    if not default_storage.exists(path):
        default_storage.save(path, ContentFile(content))
