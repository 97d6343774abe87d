"""``python manage.py stats METHOD [--csv FILE] [flags] [--json]``: run one statistic on a CSV file.

A thin wrapper over :mod:`analytics.stats_cli`. Bad input prints one line on stderr and exits with
status 2 (``sys.exit``, not ``CommandError``, which exits 1), so scripts can tell bad data from a crash.

Examples::

    python manage.py stats icc --csv reads.csv --target case --rater reader --rating vbq
    python manage.py stats roc --csv vbq.csv --score vbq --truth group --positive osteoporosis \\
        --negative normal --direction higher --json
    python manage.py stats icc-lmm --csv reads.csv --subject case --rater reader --score vbq --json
    python manage.py stats roc-cutoff-ci --csv vbq.csv --score vbq --truth group --positive osteoporosis \\
        --negative normal --direction higher --resamples 2000 --seed 16 --json
    python manage.py stats drift --csv reader2.csv --score vbq --position position --json
    python manage.py stats icc-sample-size --icc 0.8 --null 0.6 --raters 3 --alpha 0.05 --power 0.8 --json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics import stats_cli

_COLUMN_FLAGS = {
    "target": "icc: column with the target (case/vertebra) id",
    "rater": "icc: column with the rater (or read) id",
    "rating": "icc: column with the rating",
    "value": "anova: column with the measurement",
    "group": "anova: column with the group label",
    "a": "chisq: first categorical column; bland-altman: first measurement",
    "b": "chisq: second categorical column; bland-altman: second measurement",
    "x": "pearson/spearman/regression: x (predictor) column",
    "y": "pearson/spearman/regression: y (outcome) column",
    "score": "roc/roc-cutoff-ci/drift: column with the score; icc-lmm: column with the rating",
    "truth": "roc/roc-cutoff-ci: column with the outcome",
    "subject": "icc-lmm: column with the subject (case) id",
    "position": "drift: column with the position in the worklist",
}


class Command(BaseCommand):
    help = (
        "Run a statistic (icc, icc-lmm, anova, chisq, pearson, spearman, regression, roc, roc-cutoff-ci, "
        "bland-altman, drift) on a CSV file, or icc-sample-size, and print a table, or one JSON object with --json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("method", choices=list(stats_cli.METHODS))
        parser.add_argument(
            "--csv", metavar="FILE", help="CSV file with a header row (every method but icc-sample-size)"
        )
        for flag, text in _COLUMN_FLAGS.items():
            parser.add_argument(f"--{flag}", metavar="COLUMN", help=text)
        parser.add_argument("--positive", metavar="VALUE", help="roc: the outcome value that is positive")
        parser.add_argument(
            "--negative",
            metavar="VALUE",
            action="append",
            help="roc: an outcome value that is negative (repeatable; default: every other value)",
        )
        parser.add_argument(
            "--direction",
            choices=("higher", "lower"),
            default="higher",
            help="roc: which scores are positive (default: higher)",
        )
        parser.add_argument("--correct", action="store_true", help="chisq: Yates' correction (2 x 2 only)")
        parser.add_argument(
            "--resamples", type=int, default=2000, help="roc-cutoff-ci: bootstrap resamples (default 2000)"
        )
        parser.add_argument("--seed", type=int, default=16, help="roc-cutoff-ci: bootstrap seed (default 16)")
        parser.add_argument("--icc", type=float, help="icc-sample-size: the expected ICC")
        parser.add_argument("--null", type=float, help="icc-sample-size: the null (smallest acceptable) ICC")
        parser.add_argument("--raters", type=int, help="icc-sample-size: ratings per subject (readers)")
        parser.add_argument("--alpha", type=float, default=0.05, help="icc-sample-size: one-sided alpha (0.05)")
        parser.add_argument("--power", type=float, default=0.80, help="icc-sample-size: power (0.80)")
        parser.add_argument("--n", type=int, help="icc-sample-size: current number of subjects (adds its power)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        columns = {flag: options[flag] for flag in _COLUMN_FLAGS}
        try:
            result, notes = stats_cli.analyse(
                options["method"],
                options["csv"],
                positive=options["positive"],
                negative=options["negative"],
                direction=options["direction"],
                correct=options["correct"],
                resamples=options["resamples"],
                seed=options["seed"],
                icc=options["icc"],
                null=options["null"],
                raters=options["raters"],
                alpha=options["alpha"],
                power=options["power"],
                n=options["n"],
                **columns,
            )
        except stats_cli.CliError as error:
            self.stderr.write(f"stats {options['method']}: {error}")
            sys.exit(2)
        if options["json"]:
            self.stdout.write(json.dumps(result, allow_nan=False))
            for note in notes:
                self.stderr.write(f"note: {note}")
        else:
            self.stdout.write(stats_cli.format_result(options["method"], result, notes), ending="")
