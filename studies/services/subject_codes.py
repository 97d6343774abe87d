"""Opaque subject codes (issue #15): random, fixed width, never derived from import order, names, IDs or dates.

A code is the study's prefix plus ``WIDTH`` characters drawn with :mod:`secrets` from an alphabet without the
look-alikes 0/O and 1/I (e.g. ``S-7K2Q``), so a reader cannot learn a subject's group from its code. Existing
codes are kept; a new code is unique within the study (redrawn on a collision, and one character wider once the
study fills a quarter of the four-character space).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 characters: no 0/O, 1/I
WIDTH = 4
DEFAULT_PREFIX = "S-"
MAX_DRAWS = 64


def code_width(taken_count: int) -> int:
    """Characters after the prefix: ``WIDTH``, wider while the study would fill over a quarter of the space."""
    width = WIDTH
    while (taken_count + 1) * 4 > len(ALPHABET) ** width:
        width += 1
    return width


def new_subject_code(
    taken: Collection[str], *, prefix: str = DEFAULT_PREFIX, choice: Callable[[str], str] = secrets.choice
) -> str:
    """A code not in ``taken``: ``prefix`` + random characters from :data:`ALPHABET` (``choice`` for tests)."""
    width = code_width(len(taken))
    for attempt in range(MAX_DRAWS * 2):
        if attempt == MAX_DRAWS:
            width += 1  # unreachable in practice (≤ 1/4 of the space is taken); never loop forever
        code = prefix + "".join(choice(ALPHABET) for _ in range(width))
        if code not in taken:
            return code
    raise RuntimeError("no free subject code")  # pragma: no cover
