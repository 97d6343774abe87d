"""Benchmark of the statistics engine: ROC with DeLong CI and ICC on large inputs, against R where present.

Run from the repository root::

    python bench/stats.py            # ROC on 1e4, 1e5, 1e6 scores; ICC on 1e5 targets x 3 raters; R if found
    python bench/stats.py --no-r     # Python only
    python bench/stats.py --quick    # smaller sizes (a smoke run)

Prints the time per call and per element (which should stay flat across sizes: the algorithms are
O(N log N)), writes everything to bench/results/stats.json, and — where ``Rscript`` with pROC and psych is
installed — times ``pROC::roc`` + ``ci.auc(method = "delong")`` and ``psych::ICC`` on the same data
(written to CSV in a temporary directory; R's time excludes reading the CSV) and prints R time / Python time.
The design target is a 1e6-score ROC with CI in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.stats import icc_long, roc_analysis  # noqa: E402

TARGET_SECONDS_1E6 = 2.0

R_ROC = r"""
suppressMessages(library(pROC))
d <- read.csv("{csv}")
t <- system.time({{
  r <- roc(d$truth, d$score, levels = c(0, 1), direction = "<")
  ci <- ci.auc(r, method = "delong")
}})[["elapsed"]]
cat(sprintf("%.6f %.15g %.15g %.15g\n", t, as.numeric(r$auc), ci[1], ci[3]))
"""

R_ICC = r"""
suppressMessages(library(psych))
d <- read.csv("{csv}")
w <- matrix(d$rating, ncol = 3, byrow = TRUE)
t <- system.time(res <- suppressMessages(psych::ICC(w)))[["elapsed"]]
cat(sprintf("%.6f %.15g\n", t, res$results$ICC[2]))
"""


def best_of(repeat: int, function, *args, **kwargs) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def roc_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.4
    scores = np.round(rng.normal(size=n) + 0.8 * truth, 6)  # 6 decimals: realistic ties, exact CSV round trip
    return scores, truth


def icc_data(n_targets: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(2.5, 0.5, size=n_targets)
    ratings = true[:, None] + rng.normal(0, 0.2, size=(n_targets, 3)) + np.array([0.0, 0.05, -0.03])
    target = np.repeat(np.arange(n_targets), 3)
    rater = np.tile(np.array(["r1", "r2", "r3"]), n_targets)
    return target, rater, np.round(ratings.reshape(-1), 6)


def have_r() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "quit(status = !all(sapply(c('pROC', 'psych'), requireNamespace, quietly = TRUE)))"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def run_r(script: str, timeout: float) -> list[float] | None:
    try:
        done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"    R did not finish within {timeout:.0f} s")
        return None
    if done.returncode != 0:
        print("    R failed:", done.stderr.strip().splitlines()[-1:] or "")
        return None
    return [float(v) for v in done.stdout.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-r", action="store_true", help="skip the R comparison")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    parser.add_argument("--r-timeout", type=float, default=600.0, help="seconds allowed per R run")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "stats.json")
    args = parser.parse_args()

    roc_sizes = [10**3, 10**4] if args.quick else [10**4, 10**5, 10**6]
    icc_targets = 10**3 if args.quick else 10**5
    use_r = not args.no_r and have_r()
    results: dict[str, object] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "roc": [],
        "icc": {},
        "r_available": use_r,
    }

    with tempfile.TemporaryDirectory() as tmp:
        print("ROC (roc_analysis: AUC, DeLong CI, SPSS p, all thresholds, Youden cut-off with Wilson CIs)")
        for n in roc_sizes:
            scores, truth = roc_data(n, seed=n)
            seconds, res = best_of(args.repeat, roc_analysis, scores, truth, direction="higher")
            row: dict[str, object] = {
                "n": n,
                "seconds": seconds,
                "ns_per_element": seconds / n * 1e9,
                "auc": res.auc,
                "conf_low": res.conf_low,
                "conf_high": res.conf_high,
            }
            line = f"  n = {n:>9,}: {seconds * 1e3:9.1f} ms  ({seconds / n * 1e9:6.0f} ns/score)  AUC {res.auc:.6f}"
            if use_r:
                csv_path = Path(tmp) / f"roc_{n}.csv"
                np.savetxt(csv_path, np.c_[scores, truth], delimiter=",", header="score,truth", comments="", fmt="%.6f")
                r_out = run_r(R_ROC.format(csv=csv_path), args.r_timeout)
                if r_out:
                    r_seconds, r_auc, r_low, r_high = r_out
                    row.update(
                        r_seconds=r_seconds,
                        ratio_r_over_python=r_seconds / seconds,
                        r_auc=r_auc,
                        max_abs_diff_vs_r=max(
                            abs(r_auc - res.auc), abs(r_low - res.conf_low), abs(r_high - res.conf_high)
                        ),
                    )
                    line += f" | pROC {r_seconds * 1e3:9.1f} ms, ratio R/Python {r_seconds / seconds:5.1f}x"
                    line += f", max |diff| {row['max_abs_diff_vs_r']:.1e}"
            print(line)
            results["roc"].append(row)  # type: ignore[union-attr]
        largest = results["roc"][-1]  # type: ignore[index]
        if largest["n"] == 10**6:
            verdict = "meets" if largest["seconds"] < TARGET_SECONDS_1E6 else "MISSES"
            took = largest["seconds"]
            print(f"  target: 1e6 scores with CI in < {TARGET_SECONDS_1E6:.0f} s -> {verdict} ({took:.2f} s)")
            results["roc_1e6_meets_target"] = largest["seconds"] < TARGET_SECONDS_1E6

        print(f"ICC (icc_long, all six forms with CIs) on {icc_targets:,} targets x 3 raters")
        target, rater, rating = icc_data(icc_targets, seed=1)
        seconds, res = best_of(args.repeat, icc_long, target, rater, rating)
        n_ratings = rating.size
        icc_row: dict[str, object] = {
            "targets": icc_targets,
            "raters": 3,
            "seconds": seconds,
            "ns_per_rating": seconds / n_ratings * 1e9,
            "icc2": res["ICC2"].estimate,
        }
        line = (
            f"  {seconds * 1e3:9.1f} ms  ({seconds / n_ratings * 1e9:6.0f} ns/rating)  ICC2 {res['ICC2'].estimate:.6f}"
        )
        if use_r:
            csv_path = Path(tmp) / "icc.csv"
            np.savetxt(csv_path, rating, delimiter=",", header="rating", comments="", fmt="%.6f")
            r_out = run_r(R_ICC.format(csv=csv_path), args.r_timeout)
            if r_out:
                r_seconds, r_icc2 = r_out
                icc_row.update(
                    r_seconds=r_seconds,
                    ratio_r_over_python=r_seconds / seconds,
                    r_icc2_lmer=r_icc2,
                    r_note="psych::ICC default (lmer = TRUE); lmer = FALSE (aov) cannot fit 1e5 targets in memory",
                )
                line += f" | psych::ICC (lmer) {r_seconds * 1e3:9.1f} ms, ratio R/Python {r_seconds / seconds:5.1f}x"
        print(line)
        results["icc"] = icc_row

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
