"""Broken DICOM files for robustness tests: an RLE slice whose corrupt pixel data make pylibjpeg-rle panic.

pylibjpeg-rle is written in Rust; on some corrupt RLE streams it panics, which reaches Python as
``pyo3_runtime.PanicException`` — a ``BaseException``, not an ``Exception``. :func:`rle_panic_dataset` flips bits
of a real RLE-encoded phantom slice, trying seeds in order until the installed decoder really panics on it.
"""

from __future__ import annotations

import copy
import random

from pydicom import uid
from pydicom.dataset import Dataset

from studies.demo.phantom.cohort import demo_cohort
from studies.demo.phantom.dicom import to_bytes
from studies.demo.phantom.series import build_series


def phantom_slices(subject_index: int = 0, rng_seed: int = 3) -> list[Dataset]:
    datasets, _ = build_series(demo_cohort()[subject_index], rng_seed=rng_seed)
    return datasets


def flip_bits(data: bytes, rng: random.Random, start: int, count: int) -> bytes:
    out = bytearray(data)
    for _ in range(count):
        i = rng.randrange(start, len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def panics_in_rle_decoder(ds: Dataset) -> bool:
    """Whether pylibjpeg-rle panics (raises a BaseException that is not an Exception) decoding ``ds``."""
    probe = copy.deepcopy(ds)
    probe.pixel_array_options(decoding_plugin="pylibjpeg")
    try:
        _ = probe.pixel_array
    except Exception:
        return False
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return True
    return False


def rle_panic_dataset(ds: Dataset, *, seeds: int = 2000) -> tuple[Dataset, int]:
    """``ds`` RLE-encoded with bits of its pixel data flipped so that pylibjpeg-rle panics; and the seed used."""
    encoded = copy.deepcopy(ds)
    encoded.compress(uid.RLELossless, encoded.pixel_array)
    pixels = bytes(encoded.PixelData)
    for seed in range(seeds):
        rng = random.Random(seed)
        mutant = copy.deepcopy(encoded)
        # past the Basic Offset Table item and the fragment's item header: the RLE header and segments
        mutant.PixelData = flip_bits(pixels, rng, 16, rng.randint(1, 8))
        if panics_in_rle_decoder(mutant):
            return mutant, seed
    raise AssertionError("no seed makes the installed pylibjpeg-rle panic")


def rle_panic_bytes(ds: Dataset) -> bytes:
    return to_bytes(rle_panic_dataset(ds)[0])
