"""Functional coverage of the corner cases that matter, sampled in the benches with cocotb-coverage.

With $BITWEIGHT_COVERAGE set (``make coverage``), the benches sample what their workloads
exercised and :func:`export` (called by rtl_models.benches.common.finish) writes the run's
coverage database as ``functional-*.yml`` beside the Verilator counts; rtl_models.coverage merges
every run's bins into ``functional.csv``. Without it, sampling does nothing.

Cover points (bins):

* ``gemm.<dataflow>.rows`` / ``.cols``: a fold's tile fills the array's rows / columns, or not;
  ``.t``: the streamed length is 1, shorter than the array's rows, or as long or longer;
  ``.folds``: a workload of one fold or several; ``gemm.ws.accumulate``: a WS fold starts a tile
  or accumulates into one;
* ``gemm.<dataflow>.extreme``: a workload's largest and most negative C, by sign and magnitude
  (below 2^15, to 2^23, to 2^30, 2^30 and beyond: the accumulator's top bits);
* ``digits.<encoding>.mask``: which of an a-operand's four radix-4 digits are non-zero (16
  patterns), and ``digits.<encoding>.d<j>``: every value -2..2 at digit position j (Booth's digit 0
  cannot be +2: its x_{-1} is 0);
* ``fp8.<fmt_a>x<fmt_b>.classes``: the (a, b) operand classes (zero, subnormal, normal, inf,
  nan) that met in a multiplier or MAC, as "a*b" (e4m3 has no inf: those bins cannot be hit).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from rtl_models.cosim import ENV_COVERAGE

MAGNITUDES = ("<2^15", "2^15..2^23", "2^23..2^30", ">=2^30")
FP8_CLASSES = ("zero", "subnormal", "normal", "inf", "nan")


def enabled() -> bool:
    return bool(os.environ.get(ENV_COVERAGE))


@lru_cache(maxsize=None)
def _point(name: str, bins: tuple):
    """A sampler for cover point ``name`` over ``bins`` (created once per name)."""
    from cocotb_coverage.coverage import CoverPoint

    @CoverPoint(name, xf=lambda value: value, bins=list(bins))
    def sample(value):
        pass

    return sample


def sample(name: str, bins: Iterable, values: Iterable) -> None:
    """Hit ``values`` (each one of ``bins``) on cover point ``name`` when coverage is on."""
    if not enabled():
        return
    fn = _point(name, tuple(bins))
    for value in values:
        fn(value)


def gemm_folds(dataflow: str, rows: int, cols: int, folds) -> None:
    """The fold edges a workload's folds (sim.systolic.Fold) exercised."""
    if not enabled():
        return
    tile_rows = [(f.m1 - f.m0) if dataflow == "os" else (f.k1 - f.k0) for f in folds]
    sample(f"gemm.{dataflow}.rows", ("full", "partial"), ("full" if r == rows else "partial" for r in tile_rows))
    sample(f"gemm.{dataflow}.cols", ("full", "partial"), ("full" if f.n1 - f.n0 == cols else "partial" for f in folds))
    sample(f"gemm.{dataflow}.t", ("1", "<rows", ">=rows"),
           ("1" if f.t == 1 else "<rows" if f.t < rows else ">=rows" for f in folds))
    sample(f"gemm.{dataflow}.folds", ("one", "several"), ["one" if len(folds) == 1 else "several"])
    if dataflow == "ws":
        sample("gemm.ws.accumulate", ("starts", "accumulates"),
               ("accumulates" if f.accumulate else "starts" for f in folds))


def gemm_extreme(dataflow: str, c: np.ndarray) -> None:
    """A workload's largest and most negative C, by magnitude."""
    if not enabled() or c.size == 0:
        return
    c = np.asarray(c, np.int64)
    bins = [f"{s} {m}" for s in ("+", "-") for m in MAGNITUDES]
    hits = []
    for v in {int(c.max()), int(c.min())}:
        mag = abs(v)
        bucket = MAGNITUDES[0 if mag < 2**15 else 1 if mag < 2**23 else 2 if mag < 2**30 else 3]
        hits.append(f"{'-' if v < 0 else '+'} {bucket}")
    sample(f"gemm.{dataflow}.extreme", bins, hits)


def digit_patterns(encoding: str, a: np.ndarray) -> None:
    """The radix-4 digit patterns of the a-operands (sim.digits' encodings)."""
    if not enabled():
        return
    from sim.digits import radix4_digits

    digits = radix4_digits(np.asarray(a, np.int64).reshape(-1), encoding)
    masks = ((digits != 0) * (1 << np.arange(digits.shape[1]))).sum(axis=1)
    sample(f"digits.{encoding}.mask", tuple(range(16)), np.unique(masks).tolist())
    for j in range(digits.shape[1]):
        sample(f"digits.{encoding}.d{j}", (-2, -1, 0, 1, 2), np.unique(digits[:, j]).tolist())


def fp8_classes(fmt_a: str, fmt_b: str, a_codes: np.ndarray, b_codes: np.ndarray) -> None:
    """The (a, b) FP8 operand classes that met."""
    if not enabled():
        return
    pairs = {f"{x}*{y}" for x, y in zip(_fp8_class(np.asarray(a_codes), fmt_a), _fp8_class(np.asarray(b_codes), fmt_b))}
    sample(f"fp8.{fmt_a}x{fmt_b}.classes", tuple(f"{x}*{y}" for x in FP8_CLASSES for y in FP8_CLASSES), sorted(pairs))


def _fp8_class(codes: np.ndarray, fmt: str) -> list[str]:
    mant_bits = 3 if fmt == "e4m3" else 2
    exp = (codes.astype(np.int64) >> mant_bits) & ((1 << (7 - mant_bits)) - 1)
    mant = codes.astype(np.int64) & ((1 << mant_bits) - 1)
    top = (1 << (7 - mant_bits)) - 1
    out = np.where(exp == 0, np.where(mant == 0, "zero", "subnormal"), "normal").astype(object)
    if fmt == "e4m3":  # no infinities; S.1111.111 is NaN
        out[(exp == top) & (mant == (1 << mant_bits) - 1)] = "nan"
    else:
        out[(exp == top) & (mant == 0)] = "inf"
        out[(exp == top) & (mant != 0)] = "nan"
    return out.tolist()


def export() -> Path | None:
    """Write this run's coverage database into $BITWEIGHT_COVERAGE (None when coverage is off or
    nothing was sampled)."""
    if not enabled():
        return None
    from cocotb_coverage.coverage import coverage_db

    if not len(coverage_db):
        return None
    folder = Path(os.environ[ENV_COVERAGE])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"functional-{os.getpid()}-{np.random.default_rng().integers(1 << 62)}.yml"
    coverage_db.export_to_yaml(str(path))
    return path
