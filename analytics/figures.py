"""Journal-style figures: Bland–Altman, drift, box + strip, ROC, scatter with fit (matplotlib, no pyplot).

Each ``*_figure`` takes the plot dict a section stored (:mod:`analytics.sections`, ``result["plots"]``) and
returns a :class:`matplotlib.figure.Figure`; :func:`render` saves it as SVG, PNG (300 dpi) or PDF. Output is
deterministic: a fixed SVG hash salt, no dates in the metadata, fixed jitter, one bundled font (DejaVu Sans,
so the same bytes on any machine with the same matplotlib) — the analysis snapshot of unchanged data is
byte-identical. SVG text is kept as text (editable), PDF fonts are embedded as TrueType (Type 42, which
journals accept; Type 3 is faster but often refused). Sizes follow journal columns: 89 mm (3.5 in) single,
183 mm (7.2 in) double.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# numpy, matplotlib and scipy load on the first figure, not when the URLconf imports this module (start-up,
# issue #20 point 4): each figure function imports them itself.
if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
# PDF font subsetting logs every glyph at INFO; nobody needs that in the server log.
logging.getLogger("fontTools").setLevel(logging.WARNING)

__all__ = ["FIGURES", "FORMATS", "build", "has_data", "placeholder", "render"]

FORMATS: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}
SINGLE, DOUBLE = 3.5, 7.2  # inches

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "vbq-reader",
    "svg.fonttype": "none",  # text stays text: editable in a journal's layout software, and faster
    "pdf.fonttype": 42,
}
#: Okabe–Ito colours (readable in grey scale and by colour-blind readers).
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#555555"


def _figure(**kwargs: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _rc_context():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def _num(value: float, digits: int = 3) -> str:
    """A number for figure text: ``digits`` significant digits and a true minus sign, as on the axes."""
    return f"{value:.{digits}g}".replace("-", "−")


def _axes_grid(n: int, *, ncols: int = 3, width: float = DOUBLE, row_height: float = 2.3):
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = _figure(figsize=(width if n > 1 else SINGLE, row_height * nrows + 0.2))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for extra in axes.flat[n:]:
        extra.set_visible(False)
    return fig, list(axes.flat[:n])


def placeholder(text: str) -> Figure:
    """A small figure that says why there is no plot (shown instead of a broken image)."""
    fig = _figure(figsize=(SINGLE, 1.2))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", color=GREY, wrap=True, transform=ax.transAxes)
    return fig


def bland_altman_figure(plot: dict[str, Any]) -> Figure:
    import numpy as np

    panels = plot.get("panels") or []
    if not panels:
        return placeholder(f"Bland–Altman ({plot.get('measure', '')}): needs two reads of the same cases")
    fig, axes = _axes_grid(len(panels))
    for ax, panel in zip(axes, panels, strict=True):
        means = np.asarray(panel["means"], dtype=float)
        diffs = np.asarray(panel["differences"], dtype=float)
        ax.scatter(means, diffs, s=9, color=COLOURS[0], alpha=0.75, linewidths=0)
        for value, style, name, above in (
            (panel["bias"], "-", "bias", True),
            (panel["loa_low"], "--", "−1.96 SD", True),
            (panel["loa_high"], "--", "+1.96 SD", False),  # inside the plot, clear of the title
        ):
            ax.axhline(value, color=GREY if style == "--" else "#000000", linestyle=style, linewidth=0.8)
            ax.annotate(
                f"{name} {_num(value)}",
                xy=(1.0, value),
                xycoords=("axes fraction", "data"),
                xytext=(-2, 2 if above else -2),
                textcoords="offset points",
                ha="right",
                va="bottom" if above else "top",
                fontsize=6,
                color=GREY,
            )
        ax.axhline(0.0, color="#bbbbbb", linewidth=0.5, zorder=0)
        ax.set_title(panel["title"], loc="left")
        ax.set_xlabel(f"Mean of the two {plot['measure']} values")
        ax.set_ylabel("Difference")
    fig.align_ylabels(axes)
    fig.tight_layout()
    return fig


def box_figure(plot: dict[str, Any]) -> Figure:
    import numpy as np

    groups = [g for g in plot.get("groups") or [] if g["values"]]
    if not groups:
        return placeholder(f"{plot.get('measure', '')} by group: no scored subjects with reference data yet")
    fig = _figure(figsize=(SINGLE, 2.8))
    ax = fig.add_subplot()
    data = [np.asarray(g["values"], dtype=float) for g in groups]
    ax.boxplot(
        data,
        widths=0.5,
        showfliers=False,
        medianprops={"color": "#000000", "linewidth": 1.0},
        boxprops={"linewidth": 0.7},
        whiskerprops={"linewidth": 0.7},
        capprops={"linewidth": 0.7},
    )
    rng = np.random.default_rng(20261123)  # fixed jitter: the same picture every time
    for i, values in enumerate(data, start=1):
        x = i + rng.uniform(-0.13, 0.13, size=values.size)
        ax.scatter(x, values, s=8, color=COLOURS[(i - 1) % len(COLOURS)], alpha=0.7, linewidths=0, zorder=3)
    ax.set_xticks(range(1, len(groups) + 1), [f"{g['label']}\n(n = {len(g['values'])})" for g in groups])
    ax.set_ylabel(plot["measure"])
    fig.tight_layout()
    return fig


def roc_figure(plot: dict[str, Any]) -> Figure:
    curves = plot.get("curves") or []
    if not curves:
        return placeholder(f"ROC ({plot.get('outcome', '')}): not enough subjects in both outcome groups")
    fig = _figure(figsize=(SINGLE, SINGLE))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.6, linestyle=":")
    for i, curve in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        ax.step(
            curve["fpr"], curve["tpr"], where="post", color=colour, label=f"{curve['label']} (AUC {curve['auc']:.3f})"
        )
        y = curve["youden"]
        ax.plot([y["fpr"]], [y["tpr"]], marker="o", markersize=4, color=colour)
        if y.get("threshold") is not None:  # ±inf (every subject called one way) is stored as null
            ax.annotate(
                _num(y["threshold"]),
                xy=(y["fpr"], y["tpr"]),
                xytext=(5, -10),
                textcoords="offset points",
                fontsize=6,
                color=colour,
            )
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("Sensitivity")
    ax.set_title(plot["outcome"], loc="left")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def scatter_figure(plot: dict[str, Any]) -> Figure:
    import numpy as np

    x = np.asarray(plot.get("x") or [], dtype=float)
    y = np.asarray(plot.get("y") or [], dtype=float)
    if x.size < 3 or plot.get("regression") is None:
        return placeholder(f"{plot.get('xlabel', '')} vs {plot.get('ylabel', '')}: at least 3 subjects are needed")
    reg = plot["regression"]
    fig = _figure(figsize=(SINGLE, 2.8))
    ax = fig.add_subplot()
    ax.scatter(x, y, s=9, color=COLOURS[0], alpha=0.75, linewidths=0)
    grid = np.linspace(x.min(), x.max(), 100)
    fit = reg["intercept"] + reg["slope"] * grid
    n = reg["n"]
    from scipy import stats as sps

    t = sps.t.ppf(0.5 + reg["conf_level"] / 2, n - 2)
    # Confidence band of the fitted mean: se = sigma * sqrt(1/n + (x - mean)^2 / Sxx), Sxx = (sigma / se_b)^2.
    sxx = (reg["sigma"] / reg["slope_se"]) ** 2 if reg["slope_se"] else np.inf
    half = t * reg["sigma"] * np.sqrt(1.0 / n + (grid - x.mean()) ** 2 / sxx)
    ax.fill_between(grid, fit - half, fit + half, color=COLOURS[0], alpha=0.15, linewidth=0)
    ax.plot(grid, fit, color="#000000", linewidth=0.9)
    pearson = plot.get("pearson") or {}
    if pearson.get("estimate") is not None:
        p = pearson["p_value"]
        p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        sign = "−" if reg["slope"] < 0 else "+"
        r_text = f"{pearson['estimate']:.2f}".replace("-", "−")
        ax.text(
            0.98,
            0.97,
            f"r = {r_text}, {p_text}\ny = {_num(reg['intercept'])} {sign} {_num(abs(reg['slope']))}x",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
        )
    ax.set_xlabel(plot["xlabel"])
    ax.set_ylabel(plot["ylabel"])
    fig.tight_layout()
    return fig


def drift_figure(plot: dict[str, Any]) -> Figure:
    """One panel per reader × read: the value against the worklist position with the OLS line."""
    import numpy as np

    panels = plot.get("panels") or []
    if not panels:
        return placeholder(f"{plot.get('measure', '')}: no analysed reads yet")
    fig, axes = _axes_grid(len(panels), ncols=3, row_height=2.0)
    for ax, panel in zip(axes, panels, strict=True):
        x = np.asarray(panel["x"], dtype=float)
        y = np.asarray(panel["y"], dtype=float)
        ax.scatter(x, y, s=7, color=COLOURS[0], alpha=0.75, linewidths=0)
        grid = np.array([x.min(), x.max()])
        ax.plot(grid, panel["intercept"] + panel["slope"] * grid, color="#000000", linewidth=0.9)
        ax.set_title(panel["title"], loc="left")
        ax.set_xlabel("Position in worklist")
        ax.set_ylabel(plot["measure"])
    fig.tight_layout()
    return fig


#: Figure name prefix -> (section it comes from, builder).
FIGURES: dict[str, tuple[str, Callable[[dict[str, Any]], Figure]]] = {
    "ba-": ("agreement", bland_altman_figure),
    "drift-": ("agreement", drift_figure),
    "box-": ("groups", box_figure),
    "roc-": ("roc", roc_figure),
    "scatter-": ("correlation", scatter_figure),
}


def has_data(name: str, plot: dict[str, Any] | None) -> bool:
    """Whether the figure would show data (not a placeholder); the snapshot only includes those."""
    if not plot:
        return False
    if name.startswith(("ba-", "drift-")):
        return bool(plot.get("panels"))
    if name.startswith("box-"):
        return any(g["values"] for g in plot.get("groups") or [])
    if name.startswith("roc-"):
        return bool(plot.get("curves"))
    if name.startswith("scatter-"):
        return plot.get("regression") is not None and len(plot.get("x") or []) >= 3
    return False


def build(name: str, plot: dict[str, Any] | None) -> Figure:
    """The figure ``name`` (e.g. ``"ba-vbq"``) from its plot dict; a placeholder when there is no data."""
    for prefix, (_, builder) in FIGURES.items():
        if name.startswith(prefix):
            with _rc_context():
                if plot is None:
                    return placeholder("No data for this figure yet")
                try:
                    return builder(plot)
                except Exception:  # degenerate data must not break a page or the snapshot
                    log.exception("figure %s could not be drawn", name)
                    return placeholder("This figure could not be drawn from the current data")
    raise KeyError(name)


def render(fig: Figure, fmt: str) -> bytes:
    """SVG, PNG (300 dpi) or PDF bytes, without dates (deterministic)."""
    if fmt not in FORMATS:
        raise KeyError(fmt)
    metadata: dict[str, Any] = {
        "svg": {"Date": None},
        "png": {"Software": None},
        "pdf": {"CreationDate": None, "ModDate": None},
    }[fmt]
    buffer = io.BytesIO()
    with _rc_context():
        fig.savefig(buffer, format=fmt, dpi=300 if fmt == "png" else 72, metadata=metadata)
    return buffer.getvalue()
