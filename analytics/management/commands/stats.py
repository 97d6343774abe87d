"""``python manage.py stats METHOD --csv FILE [flags] [--json]``: run one statistic on a CSV file.

A thin wrapper over :mod:`analytics.stats_cli`. Bad input prints one line on stderr and exits with
status 2 (``sys.exit``, not ``CommandError``, which exits 1), so scripts can tell bad data from a crash.

Examples::

    python manage.py stats icc --csv reads.csv --target case --rater reader --rating vbq
    python manage.py stats roc --csv vbq.csv --score vbq --truth group --positive osteoporosis \\
        --negative normal --direction higher --json
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
    "score": "roc: column with the score",
    "truth": "roc: column with the outcome",
}


class Command(BaseCommand):
    help = (
        "Run a statistic (icc, anova, chisq, pearson, spearman, regression, roc, bland-altman) on a CSV "
        "file and print a table, or one JSON object with --json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("method", choices=list(stats_cli.METHODS))
        parser.add_argument("--csv", required=True, metavar="FILE", help="CSV file with a header row")
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
