"""Exact signed radix-4 digits of INT8 operands, and the digit statistics zero-digit skipping lives on.

An 8-bit two's-complement value x is written as four signed radix-4 digits,

    x = d_0 + 4 d_1 + 16 d_2 + 64 d_3,

and a multiplier built on them adds one selected multiple (0, +-B, +-2B) of the other operand per
digit. Two recodings are here, both exact for every int8 value (tests round-trip all 256):

* :func:`booth_radix4_digits`, the classic modified-Booth recoding of the two's-complement bits:
  d_j = -2 x_{2j+1} + x_{2j} + x_{2j-1} (x_{-1} = 0), digits in {-2, -1, 0, 1, 2}.
* :func:`ent_radix4_digits`, the EN-T recoding the TPE paper's OPT3 PE uses (PAPERS.md; the
  behaviour below is read from the `encoder_multi_bit` / `sparse_encoder` modules of its public
  repository, re-derived here, not copied). The operand is first put in sign-magnitude form
  (|-128| = 128 needs the ninth bit); the magnitude m is recoded low digit first with a carry,
      r_j = m_j + c_j   (m_j = bits 2j+1..2j of m, c_0 = 0)
      r_j <= 2:  e_j = r_j,      c_{j+1} = 0
      r_j >= 3:  e_j = r_j - 4,  c_{j+1} = 1
  so every magnitude digit is in {-1, 0, 1, 2} (no carry leaves digit 3: m <= 128), and the sign
  is applied to all four: d_j = sign(x) * e_j. The resulting digit set is {-2, -1, 0, 1, 2}, the
  same as Booth's, but small magnitudes of either sign get the same (few) non-zero digits, where
  Booth gives negative numbers long runs of -1 / 1 digits from the sign bits: on the Gaussian
  data below EN-T has ~7-9% fewer non-zero digits than Booth.

The statistic the TPE paper's OPT3 analysis quotes (ANCHORS.md, TPE section) is the average
number of non-zero digits in a group of 4 consecutive K elements at one digit position,
:func:`mean_nonzero_digits_per_group`; the OPT3 PE spends max(1, that count) cycles per group and
position (sim/digit_skip.py).

numpy only.
"""

from __future__ import annotations

import numbers

import numpy as np

INT8_MIN, INT8_MAX = -128, 127
NUM_DIGITS = 4  # radix-4 digits of an 8-bit operand
GROUP = 4  # K elements that share one digit position in the OPT3 PE (the TPE paper's group)
ENCODINGS = ("ent", "booth")
# 4**j for digit j
DIGIT_WEIGHTS = 4 ** np.arange(NUM_DIGITS, dtype=np.int64)


def check_int8(values, name: str = "values") -> np.ndarray:
    """``values`` as an int64 array, after checking they are integers in [-128, 127].

    Accepts numpy integer arrays of any width and (nested) sequences of Python ints; rejects
    floats, booleans and out-of-range values with a message naming the first offender.
    """
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be signed INT8 integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < INT8_MIN) | (arr > INT8_MAX)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be signed INT8 values in [-128, 127], got {int(arr[idx])} at index {idx}")
    return arr


def check_int8_gemm(a, b) -> tuple[np.ndarray, np.ndarray]:
    """``a`` (M x K) and ``b`` (K x N) as int64 arrays, after checking they are non-empty signed
    INT8 matrices whose inner dimensions agree (every INT8 GEMM model takes its operands here)."""
    av, bv = check_int8(a, "a"), check_int8(b, "b")
    if av.ndim != 2 or bv.ndim != 2 or 0 in av.shape or 0 in bv.shape:
        raise ValueError(f"a and b must be non-empty 2-D matrices, got shapes {av.shape} and {bv.shape}")
    if av.shape[1] != bv.shape[0]:
        raise ValueError(f"shape mismatch: a is {av.shape} (M x K) but b is {bv.shape} (K x N)")
    return av, bv


def check_gemm_dims(m, n, k, max_k: int, what: str = "the int32 accumulator") -> None:
    """M, N, K positive integers and K within ``max_k`` (the largest K ``what`` cannot overflow at)."""
    for name, v in (("M", m), ("N", n), ("K", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"GEMM dimension {name} must be a positive integer, got {v!r}")
    if k > max_k:
        raise ValueError(f"K = {k} can overflow {what} (max K {max_k})")


def booth_radix4_digits(x) -> np.ndarray:
    """Modified-Booth radix-4 digits of int8 values: shape x.shape + (4,), digit j weighs 4**j.

    d_j = -2 x_{2j+1} + x_{2j} + x_{2j-1} on the two's-complement bits (x_{-1} = 0).
    """
    v = check_int8(x, "x") & 0xFF
    digits = np.empty(v.shape + (NUM_DIGITS,), np.int8)
    prev = np.zeros_like(v)
    for j in range(NUM_DIGITS):
        lo = (v >> (2 * j)) & 1
        hi = (v >> (2 * j + 1)) & 1
        digits[..., j] = -2 * hi + lo + prev
        prev = hi
    return digits


def ent_radix4_digits(x) -> np.ndarray:
    """EN-T signed radix-4 digits of int8 values (sign-magnitude, carry recoding; module docstring).

    Shape x.shape + (4,), digit j weighs 4**j, every digit in {-2, -1, 0, 1, 2}.
    """
    v = check_int8(x, "x")
    sign = np.where(v < 0, -1, 1)
    mag = np.abs(v)  # 0..128
    digits = np.empty(v.shape + (NUM_DIGITS,), np.int8)
    carry = np.zeros_like(mag)
    for j in range(NUM_DIGITS):
        r = ((mag >> (2 * j)) & 3) + carry
        carry = (r >= 3).astype(np.int64)
        digits[..., j] = sign * (r - 4 * carry)
    return digits


def radix4_digits(x, encoding: str = "ent") -> np.ndarray:
    """The digits of ``x`` in the named recoding ("ent" or "booth")."""
    if encoding == "ent":
        return ent_radix4_digits(x)
    if encoding == "booth":
        return booth_radix4_digits(x)
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def radix4_value(digits) -> np.ndarray:
    """sum_j d_j 4**j over the last axis (which must hold the 4 digits)."""
    d = np.asarray(digits)
    if d.ndim == 0 or d.shape[-1] != NUM_DIGITS:
        raise ValueError(f"digits must have {NUM_DIGITS} digits on the last axis, got shape {d.shape}")
    return d.astype(np.int64) @ DIGIT_WEIGHTS


def group_digits(a, encoding: str = "ent") -> np.ndarray:
    """Digits of a K-vector, zero-padded to whole groups: shape (ceil(K/4), 4 lanes, 4 positions)."""
    v = check_int8(a, "a")
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"a must be a non-empty 1-D vector (length K), got shape {v.shape}")
    groups = -(-v.size // GROUP)
    padded = np.zeros(groups * GROUP, np.int64)
    padded[: v.size] = v
    return radix4_digits(padded, encoding).reshape(groups, GROUP, NUM_DIGITS)


def nonzero_digits_per_group(a, encoding: str = "ent") -> np.ndarray:
    """n[g, j]: non-zero digits at position j among elements 4g..4g+3 of the K-vector ``a``."""
    return (group_digits(a, encoding) != 0).sum(axis=1)


def mean_nonzero_digits_per_group(a, encoding: str = "ent") -> float:
    """The TPE paper's OPT3 statistic: mean over (group, position) of the non-zero digit count.

    Only whole groups are counted (a tail of fewer than 4 elements would be padded with zeros
    and bias the mean down); ``a`` is flattened in order, so a K-major matrix gives K groups.
    """
    v = check_int8(a, "a").ravel()
    whole = (v.size // GROUP) * GROUP
    if whole == 0:
        raise ValueError(f"a must hold at least one whole group of {GROUP} elements, got {v.size}")
    return float(nonzero_digits_per_group(v[:whole], encoding).mean())


def gaussian_int8(rng: np.random.Generator, n: int, std: float, rounding: str = "round") -> np.ndarray:
    """n samples of N(0, std^2) quantised to int8 (saturating), by rounding or truncation toward 0.

    The TPE paper does not say how its Gaussian INT8 data was quantised; the statistic moves by
    up to ~0.08 digits between the two (tests/test_sim_digits.py reports both against the paper).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(std, bool) or not isinstance(std, numbers.Real) or not std > 0:
        raise ValueError(f"std must be a positive number, got {std!r}")
    g = rng.normal(0.0, float(std), int(n))
    if rounding == "round":
        q = np.rint(g)
    elif rounding == "trunc":
        q = np.trunc(g)
    else:
        raise ValueError(f"rounding must be 'round' or 'trunc', got {rounding!r}")
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)
