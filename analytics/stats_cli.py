"""Run one statistic on a CSV file: the engine behind ``python manage.py stats METHOD --csv FILE ...``.

Pure functions (csv module + numpy + :mod:`analytics.stats`), no Django, so the command is a thin wrapper
and this module is tested directly. :func:`run` returns the result as a dict of plain JSON values whose
shape is fixed per method (see :data:`METHODS`); bad input raises :class:`CliError` with one line that
says what is wrong and where.

Cells left empty are missing: rows with an empty cell in a column the method uses are left out (as R's
``na.omit`` does) and :func:`analyse` reports how many.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics import stats

__all__ = ["METHODS", "NO_CSV", "CliError", "CsvTable", "analyse", "format_result", "read_csv", "run"]

#: Method name -> the column flags it needs, in the order they are named in messages.
METHODS: dict[str, tuple[str, ...]] = {
    "icc": ("target", "rater", "rating"),
    "anova": ("value", "group"),
    "chisq": ("a", "b"),
    "pearson": ("x", "y"),
    "spearman": ("x", "y"),
    "regression": ("x", "y"),
    "roc": ("score", "truth"),
    "bland-altman": ("a", "b"),
    "icc-lmm": ("subject", "rater", "score"),
    "roc-cutoff-ci": ("score", "truth"),
    "drift": ("score", "position"),
    "icc-sample-size": (),
}
#: Methods that take no CSV file (their inputs are numbers given as flags).
NO_CSV: tuple[str, ...] = ("icc-sample-size",)


class CliError(Exception):
    """Bad input for a statistics run; ``str(error)`` is one line meant for the user."""


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read as text: header names and the data rows (line numbers count the header as 1)."""

    path: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def column(self, name: str) -> list[str]:
        if name not in self.columns:
            raise CliError(f"column '{name}' not found in {self.path} (columns: {', '.join(self.columns)})")
        index = self.columns.index(name)
        return [row[index] if index < len(row) else "" for row in self.rows]


def read_csv(path: str | Path) -> CsvTable:
    """Read a comma-separated file with a header row (UTF-8, a BOM is accepted)."""
    name = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except FileNotFoundError:
        raise CliError(f"cannot read {name}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"cannot read {name}: it is a directory") from None
    except UnicodeDecodeError:
        raise CliError(f"cannot read {name}: it is not a UTF-8 text file") from None
    except csv.Error as error:
        raise CliError(f"cannot read {name}: {error}") from None
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise CliError(f"{name} is empty (expected a header row naming the columns)")
    header = tuple(cell.strip() for cell in lines[0])
    rows = tuple(tuple(cell.strip() for cell in line) for line in lines[1:] if any(c.strip() for c in line))
    if not rows:
        raise CliError(f"{name} has a header but no data rows")
    return CsvTable(path=name, columns=header, rows=rows)


def _numbers(table: CsvTable, name: str, cells: Sequence[str], lines: Sequence[int]) -> np.ndarray:
    out = np.empty(len(cells))
    for i, cell in enumerate(cells):
        try:
            out[i] = float(cell)
        except ValueError:
            raise CliError(
                f"column '{name}' has a non-numeric value {cell!r} on line {lines[i]} of {table.path}"
            ) from None
        if not math.isfinite(out[i]):
            raise CliError(f"column '{name}' has a non-finite value {cell!r} on line {lines[i]} of {table.path}")
    return out


def _clean(value: Any) -> Any:
    """JSON-safe plain values: numpy scalars to Python, NaN and ±inf to ``None``."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def analyse(
    method: str,
    csv_path: str | Path | None,
    *,
    subject: str | None = None,
    position: str | None = None,
    target: str | None = None,
    rater: str | None = None,
    rating: str | None = None,
    value: str | None = None,
    group: str | None = None,
    a: str | None = None,
    b: str | None = None,
    x: str | None = None,
    y: str | None = None,
    score: str | None = None,
    truth: str | None = None,
    positive: str | None = None,
    negative: Sequence[str] | None = None,
    direction: str = "higher",
    correct: bool = False,
    resamples: int = 2000,
    seed: int = 16,
    icc: float | None = None,
    null: float | None = None,
    raters: int | None = None,
    alpha: float = 0.05,
    power: float = 0.80,
    n: int | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Run ``method`` on the CSV file; return the result dict and notes for the reader (rows left out...)."""
    if method not in METHODS:
        raise CliError(f"unknown method '{method}' (choose from: {', '.join(METHODS)})")
    if method in NO_CSV:
        try:
            return _run_icc_sample_size(icc, null, raters, alpha, power, n)
        except ValueError as error:
            raise CliError(str(error)) from None
    if csv_path is None:
        raise CliError(f"{method} needs --csv FILE")
    given = {
        "subject": subject,
        "position": position,
        "target": target,
        "rater": rater,
        "rating": rating,
        "value": value,
        "group": group,
        "a": a,
        "b": b,
        "x": x,
        "y": y,
        "score": score,
        "truth": truth,
    }
    needed = METHODS[method]
    missing = [flag for flag in needed if not given[flag]]
    if missing:
        flags = [f"--{flag}" for flag in needed]
        listed = ", ".join(flags[:-1]) + " and " + flags[-1]
        raise CliError(f"{method} needs {listed} (column names); missing: --{', --'.join(missing)}")
    if direction not in ("higher", "lower"):
        raise CliError(f"--direction must be 'higher' or 'lower', got '{direction}'")

    table = read_csv(csv_path)
    names = [given[flag] for flag in needed]
    columns = [table.column(name) for name in names]  # type: ignore[arg-type]
    complete = [i for i in range(len(table.rows)) if all(column[i] != "" for column in columns)]
    notes: list[str] = []
    if len(complete) < len(table.rows):
        notes.append(f"{len(table.rows) - len(complete)} rows with an empty cell were left out")
    if not complete:
        raise CliError(f"no row of {table.path} has all of the columns {', '.join(map(str, names))} filled in")
    lines = [i + 2 for i in complete]
    cells = [[column[i] for i in complete] for column in columns]

    def num(k: int) -> np.ndarray:
        return _numbers(table, names[k], cells[k], lines)  # type: ignore[arg-type]

    runner = _RUNNERS[method]
    options = {"resamples": resamples, "seed": seed}
    try:
        return runner(num, cells, names, notes, positive, negative, direction, correct, options)
    except ValueError as error:
        raise CliError(str(error)) from None


_Runner = Callable[..., tuple[dict[str, Any], list[str]]]


def _run_icc(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    result = stats.icc_long(np.array(cells[0]), np.array(cells[1]), num(2))
    if result.targets_dropped:
        shown = ", ".join(map(str, result.targets_dropped[:10]))
        more = " ..." if len(result.targets_dropped) > 10 else ""
        notes.append(
            f"{len(result.targets_dropped)} targets without a rating from every rater were left out "
            f"(complete-case analysis): {shown}{more}"
        )
    notes.append(f"{result.n_targets} targets x {result.n_raters} raters analysed")
    notes.append(result.recommendation)
    keys = ("estimate", "F", "df1", "df2", "p_value", "conf_low", "conf_high")
    out = {form.type: {key: getattr(form, key) for key in keys} for form in result.forms}
    return _clean(out), notes


def _run_anova(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    values, groups = num(0), cells[1]
    anova = stats.one_way_anova(values, groups)
    tukey = stats.tukey_hsd(values, groups)
    sizes = ", ".join(f"{g.level} (n={g.n})" for g in anova.groups)
    notes.append(f"groups: {sizes}")
    out = {
        "F": anova.statistic,
        "df_between": anova.df_between,
        "df_within": anova.df_within,
        "p_value": anova.p_value,
        "eta_squared": anova.eta_squared,
        "tukey": [
            {
                "group1": c.group1,
                "group2": c.group2,
                "diff": c.diff,
                "conf_low": c.conf_low,
                "conf_high": c.conf_high,
                "p_adj": c.p_adj,
            }
            for c in tukey.comparisons
        ],
    }
    return _clean(out), notes


def _run_chisq(
    num, cells, names, notes, positive, negative, direction, correct, *_: Any
) -> tuple[dict[str, Any], list[str]]:
    table = stats.crosstab(cells[0], cells[1])
    result = stats.chi_square_test(table, correct=correct)
    notes.append(f"rows ({names[0]}): {', '.join(map(str, result.row_levels))}")
    notes.append(f"columns ({names[1]}): {', '.join(map(str, result.col_levels))}")
    notes.append(result.method + ("" if result.correct else " (no continuity correction)"))
    if correct and not result.correct:
        notes.append("Yates' correction applies to 2 x 2 tables only; it was not used")
    if result.warning:
        notes.append(result.warning)
    out = {
        "statistic": result.statistic,
        "df": result.df,
        "p_value": result.p_value,
        "expected": result.expected.tolist(),
    }
    return _clean(out), notes


def _run_correlation(function: Callable[..., Any]) -> _Runner:
    def runner(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
        result = function(num(0), num(1))
        notes.append(f"n = {result.n}; p-value from the {result.p_method}")
        out = {
            "estimate": result.estimate,
            "p_value": result.p_value,
            "conf_low": result.conf_low,
            "conf_high": result.conf_high,
        }
        return _clean(out), notes

    return runner


def _run_regression(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    result = stats.linear_regression(num(0), num(1))
    notes.append(f"{names[1]} = intercept + slope x {names[0]}; n = {result.n}")
    out = {
        "slope": result.slope,
        "intercept": result.intercept,
        "slope_se": result.slope_se,
        "intercept_se": result.intercept_se,
        "r_squared": result.r_squared,
        "p_value": result.p_value,
    }
    return _clean(out), notes


def _run_roc(
    num, cells, names, notes, positive, negative, direction, correct, *_: Any
) -> tuple[dict[str, Any], list[str]]:
    outcome = cells[1]
    distinct = list(dict.fromkeys(outcome))
    if positive is None and not (
        {v.lower() for v in distinct} <= {"0", "1"} or {v.lower() for v in distinct} <= {"true", "false"}
    ):
        raise CliError(
            f"column '{names[1]}' has values {', '.join(distinct[:6])}: say which is positive with --positive"
        )
    if positive is not None and positive not in distinct:
        raise CliError(f"--positive '{positive}' does not occur in column '{names[1]}' ({', '.join(distinct[:6])})")
    others = [v for v in distinct if v != positive] if positive is not None else []
    if negative is None and len(others) > 1:
        raise CliError(
            f"column '{names[1]}' has more than two values ({', '.join(distinct[:6])}): "
            f"say which are negative with --negative"
        )
    result = stats.roc_analysis(
        num(0), np.array(outcome), direction=direction, positive=positive, negative=list(negative or []) or None
    )
    cut = result.cutoff
    notes.append(
        f"{result.n_positive} positive, {result.n_negative} negative"
        + (f", {result.n_excluded} left out" if result.n_excluded else "")
        + f"; {'higher' if direction == 'higher' else 'lower'} {names[0]} = positive"
    )
    notes.append(
        "p_value: test of AUC = 0.5 with the standard error under H0 (as SPSS); "
        "p_value_delong: Wald test with DeLong's standard error"
    )
    if len(cut.tied_thresholds) > 1:
        notes.append(
            "thresholds tied for the best Youden index: "
            + ", ".join(f"{t:g}" for t in cut.tied_thresholds)
            + " (the one with the highest sensitivity is reported)"
        )
    out = {
        "auc": result.auc,
        "conf_low": result.conf_low,
        "conf_high": result.conf_high,
        "p_value": result.p_value,
        "threshold": cut.threshold,
        "sensitivity": cut.sensitivity.estimate,
        "specificity": cut.specificity.estimate,
        "ppv": cut.ppv.estimate,
        "npv": cut.npv.estimate,
        "youden": cut.youden,
        "p_value_delong": result.p_value_delong,
    }
    for name in ("sensitivity", "specificity", "ppv", "npv"):
        ci = getattr(cut, name)
        notes.append(
            f"{name} {ci.count}/{ci.total}, Wilson {int(result.conf_level * 100)}% CI "
            f"{_fmt(ci.conf_low)} to {_fmt(ci.conf_high)}"
        )
    return _clean(out), notes


def _run_bland_altman(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    result = stats.bland_altman(num(0), num(1))
    notes.append(
        f"differences {names[0]} - {names[1]}, n = {result.n}; bias 95% CI {_fmt(result.bias_conf_low)} to "
        f"{_fmt(result.bias_conf_high)}; lower limit CI {_fmt(result.loa_low_conf_low)} to "
        f"{_fmt(result.loa_low_conf_high)}; upper limit CI {_fmt(result.loa_high_conf_low)} to "
        f"{_fmt(result.loa_high_conf_high)}"
    )
    out = {"bias": result.bias, "sd": result.sd, "loa_low": result.loa_low, "loa_high": result.loa_high}
    return _clean(out), notes


def _run_icc_lmm(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    result = stats.icc_lmm(np.array(cells[0]), np.array(cells[1]), num(2))
    notes.append(
        f"{result.n_ratings} ratings of {result.n_subjects} subjects by {result.n_raters} raters; "
        + ("complete design" if result.complete else "incomplete design (missing ratings are absent rows)")
    )
    notes.append(
        "lme4-equivalent REML fit of score ~ 1 + (1 | subject) + (1 | rater); icc_agreement = var_subject / "
        "(var_subject + var_rater + var_residual), icc_consistency = var_subject / (var_subject + var_residual)"
    )
    if not result.converged:
        notes.append("warning: the optimiser did not report convergence")
    keys = ("icc_agreement", "icc_consistency", "var_subject", "var_rater", "var_residual")
    out = {key: getattr(result, key) for key in keys} | {
        "n_subjects": result.n_subjects,
        "n_raters": result.n_raters,
        "n_ratings": result.n_ratings,
    }
    return _clean(out), notes


def _run_roc_cutoff_ci(
    num, cells, names, notes, positive, negative, direction, correct, options
) -> tuple[dict[str, Any], list[str]]:
    outcome = cells[1]
    distinct = list(dict.fromkeys(outcome))
    if positive is None or positive not in distinct:
        raise CliError(
            f"say which value of column '{names[1]}' is positive with --positive ({', '.join(distinct[:6])})"
        )
    result = stats.youden_cutoff_ci(
        num(0),
        np.array(outcome),
        direction=direction,
        positive=positive,
        negative=list(negative or []) or None,
        resamples=options["resamples"],
        seed=options["seed"],
    )
    notes.append(
        f"{result.n_positive} positive, {result.n_negative} negative; stratified bootstrap, "
        f"{result.resamples} resamples, seed {result.seed}; percentile 95% CI (as pROC ci.coords)"
    )
    notes.append(
        f"sensitivity {_fmt(result.sensitivity)} ({_fmt(result.sensitivity_conf_low)} to "
        f"{_fmt(result.sensitivity_conf_high)}); specificity {_fmt(result.specificity)} "
        f"({_fmt(result.specificity_conf_low)} to {_fmt(result.specificity_conf_high)})"
    )
    out = {
        "threshold": result.threshold,
        "conf_low": result.conf_low,
        "conf_high": result.conf_high,
        "sensitivity": result.sensitivity,
        "specificity": result.specificity,
        "resamples": result.resamples,
        "seed": result.seed,
    }
    return _clean(out), notes


def _run_drift(num, cells, names, notes, *_: Any) -> tuple[dict[str, Any], list[str]]:
    result = stats.linear_regression(num(1), num(0))
    notes.append(f"{names[0]} = intercept + slope x {names[1]} (ordinary least squares, as R lm); n = {result.n}")
    out = {
        "slope": result.slope,
        "conf_low": result.slope_conf_low,
        "conf_high": result.slope_conf_high,
        "p_value": result.slope_p_value,
        "n": result.n,
    }
    return _clean(out), notes


def _run_icc_sample_size(
    rho1: float | None, rho0: float | None, k: int | None, alpha: float, power: float, n: int | None
) -> tuple[dict[str, Any], list[str]]:
    if rho1 is None or rho0 is None or k is None:
        raise CliError(
            "icc-sample-size needs --icc (expected ICC), --null (null ICC) and --raters (ratings per subject)"
        )
    result = stats.icc_sample_size(rho1, rho0, k, alpha=alpha, power=power)
    notes = [
        f"Walter, Eliasziw & Donner (1998): H0 ICC <= {rho0:g} vs ICC = {rho1:g}, {k} ratings per subject, "
        f"one-sided alpha {alpha:g}, power {power:g}; n = {_fmt(result.n_approx)} rounded up",
        "power_at_n: exact power of the F test with n subjects (Donner & Eliasziw 1987)",
    ]
    out: dict[str, Any] = {"n": result.n, "power_at_n": result.power}
    if n is not None:
        out["power_at_current_n"] = stats.icc_power(n, rho1, rho0, k, alpha=alpha)
        notes.append(f"power_at_current_n: exact power with the {n} subjects given by --n")
    return _clean(out), notes


_RUNNERS: dict[str, _Runner] = {
    "icc": _run_icc,
    "anova": _run_anova,
    "chisq": _run_chisq,
    "pearson": _run_correlation(stats.pearson),
    "spearman": _run_correlation(stats.spearman),
    "regression": _run_regression,
    "roc": _run_roc,
    "bland-altman": _run_bland_altman,
    "icc-lmm": _run_icc_lmm,
    "roc-cutoff-ci": _run_roc_cutoff_ci,
    "drift": _run_drift,
}


def run(method: str, csv_path: str | Path | None, **options: Any) -> dict[str, Any]:
    """Run ``method`` on the CSV file and return the result dict (see :func:`analyse` for the options)."""
    return analyse(method, csv_path, **options)[0]


# --------------------------------------------------------------------------------------------------------
# readable output


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "NA"
    if isinstance(value, int | np.integer):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NA"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}"
    return str(value)


def _fmt_p(value: Any) -> str:
    if value is None:
        return "NA"
    return "<1e-15" if value < 1e-15 else _fmt(value, 4)


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def format_result(method: str, result: dict[str, Any], notes: Sequence[str] = ()) -> str:
    """A plain-text table of a :func:`run` result, followed by the notes."""
    if method == "icc":
        names = {form[0]: form for form in stats.ICC_FORMS}
        rows = [
            [
                key,
                names[key][1],
                names[key][2],
                _fmt(r["estimate"]),
                f"{_fmt(r['conf_low'])} to {_fmt(r['conf_high'])}",
                _fmt(r["F"]),
                _fmt(int(r["df1"])),
                _fmt(int(r["df2"])),
                _fmt_p(r["p_value"]),
                stats.koo_li_interpretation(r["estimate"] if r["estimate"] is not None else math.nan),
            ]
            for key, r in result.items()
        ]
        text = _grid(
            ["form", "Shrout-Fleiss", "McGraw-Wong", "ICC", "95% CI", "F", "df1", "df2", "p", "Koo & Li"], rows
        )
    elif method == "anova":
        text = (
            f"One-way ANOVA: F({result['df_between']}, {result['df_within']}) = {_fmt(result['F'])}, "
            f"p = {_fmt_p(result['p_value'])}, eta^2 = {_fmt(result['eta_squared'])}\n\nTukey HSD (95% family-wise)\n"
        )
        text += _grid(
            ["comparison", "diff", "lower", "upper", "p adj"],
            [
                [
                    f"{r['group2']}-{r['group1']}",
                    _fmt(r["diff"]),
                    _fmt(r["conf_low"]),
                    _fmt(r["conf_high"]),
                    _fmt_p(r["p_adj"]),
                ]
                for r in result["tukey"]
            ],
        )
    elif method == "chisq":
        text = (
            f"X-squared = {_fmt(result['statistic'])}, df = {result['df']}, p = {_fmt_p(result['p_value'])}\n\n"
            "expected counts\n"
        )
        text += "\n".join("  ".join(_fmt(v, 3).rjust(9) for v in row) for row in result["expected"])
    elif method == "roc":
        text = _grid(
            ["quantity", "value"],
            [
                ["AUC", _fmt(result["auc"])],
                ["95% CI (DeLong)", f"{_fmt(result['conf_low'])} to {_fmt(result['conf_high'])}"],
                ["p (AUC = 0.5, SE under H0, as SPSS)", _fmt_p(result["p_value"])],
                ["p (DeLong Wald)", _fmt_p(result["p_value_delong"])],
                ["Youden threshold", _fmt(result["threshold"])],
                ["Youden J", _fmt(result["youden"])],
                ["sensitivity", _fmt(result["sensitivity"])],
                ["specificity", _fmt(result["specificity"])],
                ["PPV", _fmt(result["ppv"])],
                ["NPV", _fmt(result["npv"])],
            ],
        )
    else:
        text = _grid(
            ["quantity", "value"],
            [[key, _fmt_p(v) if key.startswith("p_value") else _fmt(v)] for key, v in result.items()],
        )
    if notes:
        text += "\n\n" + "\n".join(f"note: {note}" for note in notes)
    return text + "\n"
