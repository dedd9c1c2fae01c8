"""kernels.fp8: the saturating casts against sim.fp8's encoder (one NaN / Inf / overflow policy),
the tensorwise / rowwise scales and their errors, and the scaled FP8 GEMM emulation against
sim.fp8's sequential FP32 accumulation, bit for bit.

Tolerances: none. The casts clamp first, so torch only ever rounds in-range values, which every
torch version does to nearest even (compared code for code; NaN only as "a NaN code", its sign
being device-dependent). The GEMM emulation adds exact FP32 products in the same order with
the same FP32 rounding as sim.fp8.dot_fp8_bits, so its accumulators agree bit for bit (NaN
compared as NaN: torch's NaN payloads are not canonical).
"""

import numpy as np
import pytest
import torch

from kernels.fp8 import (
    FP8_DTYPES,
    fp8_e4m3_saturating,
    fp8_e5m2_saturating,
    fp8_saturating,
    quantize_fp8,
    rowwise_scale,
    scaled_fp8_gemm_emulated,
    tensorwise_scale,
)
from sim.fp8 import FP32_NAN_BITS, bits_to_f32, decode, dot_fp8_bits, encode, get_format

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
CASTS = {"e4m3": fp8_e4m3_saturating, "e5m2": fp8_e5m2_saturating}


def cast_inputs(fmt: str, seed: int = 0) -> np.ndarray:
    f = get_format(fmt)
    rng = np.random.default_rng(seed)
    vals = decode(np.arange(256), f)
    pos = np.sort(vals[np.isfinite(vals) & (vals >= 0)]).astype(np.float64)
    mids = ((pos[:-1] + pos[1:]) / 2).astype(np.float32)
    rand = (rng.standard_normal(5000) * np.exp2(rng.uniform(-20, np.log2(f.max_finite) + 3, 5000))).astype(np.float32)
    special = np.float32([np.nan, np.inf, f.max_finite * 1.01, 61440.0, 1e30, 1e-30, 0.0])
    x = np.concatenate([pos, mids, rand, special]).astype(np.float32)
    return np.concatenate([x, -x])


def codes(t: torch.Tensor) -> np.ndarray:
    return t.cpu().view(torch.uint8).numpy().astype(np.int64)


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2"])
def test_saturating_cast_follows_the_sim_encoder(fmt):
    x = cast_inputs(fmt)
    got = codes(CASTS[fmt](torch.from_numpy(x).to(DEVICE)))
    want = encode(x, fmt).astype(np.int64)
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], want[~nan])
    assert np.all((got[nan] & 0x7F) == 0x7F)  # a NaN code (sign device-dependent)
    assert fp8_saturating(torch.from_numpy(x), FP8_DTYPES[fmt]).dtype == FP8_DTYPES[fmt]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_saturating_cast_from_half_precision_is_the_float32_cast(dtype):
    x = torch.from_numpy(cast_inputs("e4m3", seed=1)).to(dtype)  # inf / nan survive, big values become inf
    want = encode(x.float().numpy(), "e4m3").astype(np.int64)
    got = codes(fp8_e4m3_saturating(x.to(DEVICE)))
    nan = torch.isnan(x).numpy()
    np.testing.assert_array_equal(got[~nan], want[~nan])


def test_policy_on_specials():
    x = torch.tensor([float("inf"), -float("inf"), 1e6, -1e6, 61440.0])
    assert codes(fp8_e4m3_saturating(x)).tolist() == [0x7E, 0xFE, 0x7E, 0xFE, 0x7E]
    assert codes(fp8_e5m2_saturating(x)).tolist() == [0x7C, 0xFC, 0x7B, 0xFB, 0x7B]


def test_tensorwise_and_rowwise_scales():
    x = torch.tensor([[1.0, -896.0], [0.5, 2.0]])
    assert tensorwise_scale(x).item() == 2.0  # 896 / 448
    assert tensorwise_scale(x, "e5m2").item() == np.float32(896.0 / 57344.0)
    assert rowwise_scale(x).flatten().tolist() == [2.0, np.float32(2.0 / 448.0)]
    q, s = quantize_fp8(x, "e4m3", "rowwise")
    assert q.dtype == torch.float8_e4m3fn and s.shape == (2, 1)
    assert q.float()[0, 1].item() == -448.0 and q.float()[1, 1].item() == 448.0  # amax -> fp8 max
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.standard_normal((8, 64)).astype(np.float32))
    for gran in ("tensorwise", "rowwise"):
        q, s = quantize_fp8(w, "e4m3", gran)
        rel = ((q.float() * s - w).abs() / w.abs().clamp_min(1e-30))
        big = w.abs() >= s * 2.0**-6  # normal e4m3 range: relative error <= 2**-4 (half an ulp)
        assert rel[big].max().item() <= 2.0**-4


@pytest.mark.parametrize("call,exc,message", [
    (lambda: tensorwise_scale(torch.zeros(3)), ValueError, r"tensorwise amax is 0: an all-zero input has no scale"),
    (lambda: tensorwise_scale(torch.tensor([1.0, float("nan")])), ValueError, r"tensorwise amax is NaN or Inf"),
    (lambda: rowwise_scale(torch.tensor([[1.0, 2.0], [0.0, 0.0]])), ValueError,
     r"rowwise amax is 0 \(first at row 1\)"),
    (lambda: rowwise_scale(torch.tensor([[1.0, float("inf")]])), ValueError,
     r"rowwise amax is NaN or Inf \(first at row 0\)"),
    (lambda: rowwise_scale(torch.ones(3)), ValueError, r"x must be a non-empty 2-D matrix for rowwise scales"),
    (lambda: tensorwise_scale(torch.ones(2, dtype=torch.int32)), TypeError, r"x must be a float32, float16"),
    (lambda: quantize_fp8(torch.ones(2), "e4m3", "blockwise"), ValueError, r"granularity must be 'tensorwise' or"),
    (lambda: fp8_saturating(torch.ones(2), "e3m4"), ValueError, r"fmt must be 'e4m3', 'e5m2'"),
    (lambda: fp8_e4m3_saturating(np.ones(2)), TypeError, r"x must be a torch.Tensor, got ndarray"),
])
def test_bad_input_is_rejected(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def fp8_codes_tensor(c: np.ndarray, fmt: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(c, np.uint8)).view(FP8_DTYPES[fmt])


def gemm_operands(fa, fb, m=5, k=19, n=6, seed=0):
    """Random finite codes with subnormals, zeros of both signs, and one NaN / Inf row."""
    rng = np.random.default_rng(seed)

    def rand(f, shape):
        c = rng.integers(0, 256, shape)
        return np.where((c & 0x7F) > get_format(f).max_code, c & 0x87, c)  # keep it finite

    a, b = rand(fa, (m, k)), rand(fb, (k, n))
    a[1, :] = rng.integers(0, 8, k) | (rng.integers(0, 2, k) << 7)  # subnormals and +-0
    a[2, 3] = 0x7F  # NaN
    if fb == "e5m2":
        b[4, 2] = 0x7C  # +Inf: column 2 is Inf (or NaN where it meets the NaN / a zero)
    return a, b


@pytest.mark.parametrize("fa,fb", [("e4m3", "e4m3"), ("e5m2", "e5m2"), ("e4m3", "e5m2")])
def test_gemm_emulation_equals_sequential_fp32_accumulation(fa, fb):
    a, b = gemm_operands(fa, fb)
    one = torch.tensor(1.0)
    got = scaled_fp8_gemm_emulated(fp8_codes_tensor(a, fa), fp8_codes_tensor(b, fb), one, one).numpy()
    want = np.array([[dot_fp8_bits(a[i], b[:, j], fa, fb) for j in range(b.shape[1])] for i in range(a.shape[0])],
                    np.uint32)
    got_bits = got.view(np.uint32).copy()
    got_bits[np.isnan(got)] = FP32_NAN_BITS
    np.testing.assert_array_equal(got_bits, want)
    assert np.isnan(got[2]).all()


def test_gemm_scales_are_applied_after_accumulation():
    a, b = gemm_operands("e4m3", "e4m3", seed=3)
    a[2, 3] = 0
    sa = torch.tensor([[0.5], [3.0], [0.1], [7.0], [1e-3]], dtype=torch.float32)
    sb = torch.linspace(0.25, 2.0, 6, dtype=torch.float32).reshape(1, 6)
    ta, tb = fp8_codes_tensor(a, "e4m3"), fp8_codes_tensor(b, "e4m3")
    acc = scaled_fp8_gemm_emulated(ta, tb, torch.tensor(1.0), torch.tensor(1.0)).numpy()
    got = scaled_fp8_gemm_emulated(ta, tb, sa, sb).numpy()
    np.testing.assert_array_equal(got, (acc * sa.numpy()).astype(np.float32) * sb.numpy())
    want = bits_to_f32(dot_fp8_bits(a[0], b[:, 0], "e4m3"))
    assert got[0, 0] == np.float32(np.float32(want * np.float32(0.5)) * np.float32(0.25))


@pytest.mark.parametrize("call,exc,message", [
    (lambda a, b, s: scaled_fp8_gemm_emulated(a.float(), b, s, s), TypeError, r"a must be torch.float8_e4m3fn or"),
    (lambda a, b, s: scaled_fp8_gemm_emulated(a, a, s, s), ValueError, r"inner dimensions must match"),
    (lambda a, b, s: scaled_fp8_gemm_emulated(a, b, s.double(), s), TypeError, r"scale_a must be a float32 tensor"),
    (lambda a, b, s: scaled_fp8_gemm_emulated(a, b, torch.ones(3, 1), s), ValueError,
     r"scale_a must have shape \(\) or \(2, 1\), got \(3, 1\)"),
    (lambda a, b, s: scaled_fp8_gemm_emulated(a[0], b, s, s), ValueError, r"a must be a 2-D matrix"),
])
def test_gemm_rejects_bad_input(call, exc, message):
    a = fp8_codes_tensor(np.ones((2, 3)), "e4m3")
    b = fp8_codes_tensor(np.ones((3, 4)), "e4m3")
    with pytest.raises(exc, match=message):
        call(a, b, torch.tensor(1.0))
