"""kernels.fp8_cast: the fused amax and scale + saturating cast (+ transposed copy) kernels against the
eager torch casts (kernels.fp8.quantize_fp8, kernels.halo._quantize_torch), bit for bit.

Tolerances: none. amax is a max (exact in any order); the scale and x / scale are correctly rounded
FP32 divisions on both sides; the rounding to fp8 is round-to-nearest-even of a clamped value on
both sides (torch's cast; the kernel's explicit bit rounding in the interpreter, the hardware
``cvt.rn.satfinite`` on a GPU). So codes and scales are compared for equality, NaN codes as "a NaN
code" where torch's NaN sign is device-dependent. The inputs: every fp8 value, every midpoint between
neighbours (the ties), random values over the whole range, specials, odd shapes that cross the
interpreter's 16 x 32 tiles in both directions, strided views, all three input dtypes.
"""

import numpy as np
import pytest
import torch

from kernels._triton_env import TRITON_INTERPRET
from kernels.fp8 import FP8_MAX, fp8_saturating, quantize_fp8
from kernels.fp8_cast import Amax, fp8_amax, fp8_cast, fp8_quantize
from kernels.halo import _quantize_torch
from test_kernels_fp8 import cast_inputs

HAS_CUDA = torch.cuda.is_available()
DEV = "cuda" if HAS_CUDA else "cpu"  # the kernels' device: interpreter on CPU, compiled on CUDA
FMTS = ["e4m3", "e5m2"]


def codes(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().view(torch.uint8)


def assert_same_codes(got: torch.Tensor, want: torch.Tensor) -> None:
    g, w = codes(got), codes(want)
    assert g.shape == w.shape
    nan = (w & 0x7F) == 0x7F if want.dtype == torch.float8_e4m3fn else (w & 0x7F) > 0x7C
    assert torch.equal(g[~nan], w[~nan])
    assert bool(((g[nan] & 0x7F) == 0x7F).all())  # a NaN code (the kernel's: 0x7F with the sign)


#: matrix()'s shape (odd, so the tiles' edges are crossed; bench/test_bench_halo.py's sm90_launches
#: compiles the GPU test's launches at it)
MATRIX_SHAPE = (300, 37)


def matrix(fmt: str, seed: int = 0) -> torch.Tensor:
    """cast_inputs (every code, every midpoint, random over the range, specials), zero-padded into a
    MATRIX_SHAPE matrix."""
    x = torch.from_numpy(cast_inputs(fmt, seed))
    out = torch.zeros(MATRIX_SHAPE[0] * MATRIX_SHAPE[1])
    assert x.numel() <= out.numel()
    out[: x.numel()] = x
    return out.reshape(MATRIX_SHAPE)


def unit_amax(fmt: str) -> Amax:
    """An amax of fp8_max: scale 1, so the cast is the plain saturating cast of x."""
    return Amax(tensor=torch.tensor(FP8_MAX[fmt], device=DEV))


def random_matrix(shape, seed, dtype=torch.float32, spread=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    if spread:  # magnitudes over 6 decades per column: the subnormal codes are used
        x = x * torch.logspace(-3, 3, shape[1])
    return x.to(dtype)


# ---------------------------------------------------------------------------------- the rounding
@pytest.mark.parametrize("fmt", FMTS)
def test_cast_rounds_every_value_like_the_saturating_torch_cast(fmt):
    # scale 1: q must be kernels.fp8's saturating cast of x itself (round to nearest even, ties
    # included, subnormals, overflow -> +-max, e4m3 Inf -> +-448, e5m2 Inf kept, NaN -> NaN)
    x = matrix(fmt)
    r = fp8_cast(x.to(DEV), fmt, unit_amax(fmt), out=True, out_t=True, check=False)
    want = fp8_saturating(x, fmt)
    assert_same_codes(r.q, want)
    assert_same_codes(r.qt, want.t())
    assert r.scale.item() == 1.0 and r.scale_t is r.scale


@pytest.mark.parametrize("fmt", FMTS)
def test_specials_and_signed_zero(fmt):
    x = torch.tensor([[float("nan"), -float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 0.0, -0.0, 1.0,
                       2.0**-130, -(2.0**-149)]])
    got = codes(fp8_cast(x.to(DEV), fmt, unit_amax(fmt), check=False).q).tolist()[0]
    inf, big = (0x7E, 0x7E) if fmt == "e4m3" else (0x7C, 0x7B)
    one = 0x38 if fmt == "e4m3" else 0x3C
    assert got == [0x7F, 0xFF, inf, 0x80 | inf, big, 0x80 | big, 0, 0x80, one, 0, 0x80]


@pytest.mark.skipif(not TRITON_INTERPRET, reason="documents the Triton interpreter's in-kernel fp8 cast")
def test_interpreter_in_kernel_cast_is_wrong_so_the_kernel_rounds_explicitly():
    # DESIGN.md: the interpreter's own float -> fp8 conversion mis-rounds (-31.51 -> -16); the
    # hardware path (_explicit=False) is therefore only used compiled, and the interpreter runs the
    # explicit bit rounding, which equals torch
    x = torch.tensor([[-31.51, 17.0, 1e-3]])
    hw = fp8_cast(x, "e4m3", unit_amax("e4m3"), _explicit=False).q.float()
    bits = fp8_cast(x, "e4m3", unit_amax("e4m3")).q.float()
    assert hw.tolist() != bits.tolist() and hw[0, 0].item() == -16.0
    assert torch.equal(bits, x.to(torch.float8_e4m3fn).float())  # [-32, 16, 2**-9]


# ---------------------------------------------------------------------------------- against the eager path
SHAPES = [(1, 1), (1, 40), (7, 300), (33, 65), (130, 17), (64, 96)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_quantize_equals_the_eager_torch_casts(shape, fmt, dtype):
    x = random_matrix(shape, seed=shape[0] * 1000 + shape[1], dtype=dtype)
    xd = x.to(DEV)
    # tensorwise: q and the transposed copy share the scale
    r = fp8_quantize(xd, fmt, "tensorwise", out=True, out_t=True)
    q0, s0 = quantize_fp8(x, fmt, "tensorwise")
    assert_same_codes(r.q, q0)
    assert_same_codes(r.qt, q0.t())
    assert torch.equal(r.scale.cpu(), s0) and r.scale.shape == ()
    # rowwise: q per row, qt per column of x (per row of x^T)
    r = fp8_quantize(xd, fmt, "rowwise", out=True, out_t=True)
    q1, s1 = quantize_fp8(x, fmt, "rowwise")
    assert_same_codes(r.q, q1)
    assert torch.equal(r.scale.cpu(), s1) and r.scale.shape == (shape[0], 1)
    q2, s2 = quantize_fp8(x.t().contiguous(), fmt, "rowwise")
    assert_same_codes(r.qt, q2)
    assert torch.equal(r.scale_t.cpu(), s2) and r.scale_t.shape == (shape[1], 1)
    # kernels.halo's CUDA graph arithmetic, eagerly: the same
    q3, s3 = _quantize_torch(x, fmt, 0, True)
    assert_same_codes(r.qt, q3.t()) and torch.equal(r.scale_t.cpu(), s3.t())


@pytest.mark.parametrize("out,out_t", [(True, False), (False, True)], ids=["q-only", "qt-only"])
@pytest.mark.parametrize("granularity", ["tensorwise", "rowwise"])
def test_one_output_alone_is_the_same(granularity, out, out_t):
    x = random_matrix((45, 70), seed=3).to(DEV)
    both = fp8_quantize(x, "e4m3", granularity, out=True, out_t=True)
    one = fp8_quantize(x, "e4m3", granularity, out=out, out_t=out_t)
    if out:
        assert one.qt is None and torch.equal(codes(one.q), codes(both.q)) and torch.equal(one.scale, both.scale)
    else:
        assert one.q is None and torch.equal(codes(one.qt), codes(both.qt))
        assert torch.equal(one.scale_t, both.scale_t)


def test_strided_inputs_are_read_in_place():
    base = random_matrix((80, 120), seed=4).to(DEV)
    for view in (base.t(), base[::3, 1::2], base[5:40, 7:90]):
        r = fp8_quantize(view, "e4m3", "rowwise", out=True, out_t=True)
        q, s = quantize_fp8(view.cpu().contiguous(), "e4m3", "rowwise")
        assert_same_codes(r.q, q) and torch.equal(r.scale.cpu(), s)
        qt, st = quantize_fp8(view.cpu().t().contiguous(), "e4m3", "rowwise")
        assert_same_codes(r.qt, qt) and torch.equal(r.scale_t.cpu(), st)


# ---------------------------------------------------------------------------------- amax
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_amax_of_tensor_rows_and_columns_in_one_pass(dtype):
    x = random_matrix((37, 70), seed=5, dtype=dtype)
    x[3, 4] = -1e4  # the largest magnitude is negative
    x[10] = -0.0
    a = fp8_amax(x.to(DEV), tensor=True, rows=True, cols=True)
    xf = x.float()
    assert torch.equal(a.tensor.cpu(), xf.abs().amax()) and a.tensor.shape == ()
    assert torch.equal(a.rows.cpu(), xf.abs().amax(1, keepdim=True)) and a.rows.dtype == torch.float32
    assert torch.equal(a.cols.cpu(), xf.abs().amax(0, keepdim=True))
    assert a.rows[10].item() == 0.0 and not torch.signbit(a.rows[10].cpu()).item()
    only = fp8_amax(x.to(DEV), cols=True)
    assert only.tensor is None and only.rows is None and torch.equal(only.cols, a.cols)


def test_amax_propagates_nan_and_inf():
    x = torch.ones(20, 40)
    x[2, 5] = -float("nan")
    x[7, 9] = -float("inf")
    a = fp8_amax(x.to(DEV), tensor=True, rows=True, cols=True)
    assert torch.isnan(a.tensor).item()
    assert torch.isnan(a.rows[2]).item() and a.rows[7].item() == float("inf") and a.rows[0].item() == 1.0
    assert torch.isnan(a.cols[0, 5]).item() and a.cols[0, 9].item() == float("inf")


# ---------------------------------------------------------------------------------- checks and errors
def test_check_names_the_zero_or_non_finite_row_or_column():
    x = torch.randn(8, 40)
    x[5] = 0.0
    with pytest.raises(ValueError, match=r"rowwise amax is 0 \(first at row 5\): an all-zero row has no scale"):
        fp8_quantize(x.to(DEV), "e4m3", "rowwise")
    y = torch.randn(8, 40)
    y[:, 33] = 0.0
    with pytest.raises(ValueError, match=r"rowwise amax is 0 \(first at column 33\)"):
        fp8_quantize(y.to(DEV), "e4m3", "rowwise", out=False, out_t=True)
    fp8_quantize(y.to(DEV), "e4m3", "rowwise")  # per row: every row has a non-zero
    with pytest.raises(ValueError, match=r"tensorwise amax is 0: an all-zero tensor has no scale"):
        fp8_quantize(torch.zeros(3, 4, device=DEV), "e5m2")
    y[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"tensorwise amax is NaN or Inf: the input holds non-finite values"):
        fp8_quantize(y.to(DEV), "e4m3")


def test_unchecked_zero_amax_casts_to_zeros_like_the_torch_path():
    x = torch.randn(20, 40)
    x[4] = 0.0
    r = fp8_quantize(x.to(DEV), "e4m3", "rowwise", check=False)
    q0, s0 = _quantize_torch(x, "e4m3", 1, False)
    assert_same_codes(r.q, q0) and torch.equal(r.scale.cpu(), s0)
    assert s0[4].item() == np.float32(np.float32(2.0**-126) / np.float32(448.0))
    z = fp8_quantize(torch.zeros(3, 5, device=DEV), "e5m2", check=False, out_t=True)
    assert not codes(z.q).any() and not codes(z.qt).any()
    assert z.scale.item() == np.float32(np.float32(2.0**-126) / np.float32(57344.0))


@pytest.mark.parametrize("call,exc,message", [
    (lambda x: fp8_quantize(x.double()), TypeError, r"x must be a float32, bfloat16 or float16 tensor, got "
                                                    r"torch.float64"),
    (lambda x: fp8_quantize(x.numpy()), TypeError, r"x must be a torch.Tensor, got ndarray"),
    (lambda x: fp8_quantize(x[0]), ValueError, r"x must be a 2-D matrix, got shape \(6,\)"),
    (lambda x: fp8_quantize(x[:0]), ValueError, r"x is empty \(shape \(0, 6\)\): no amax, no scale"),
    (lambda x: fp8_quantize(x, "e3m4"), ValueError, r"fmt must be 'e4m3', 'e5m2'"),
    (lambda x: fp8_quantize(x, "e4m3", "blockwise"), ValueError, r"granularity must be 'tensorwise' or 'rowwise'"),
    (lambda x: fp8_quantize(x, out=False), ValueError, r"ask for at least one of out=True \(q\) and out_t=True"),
    (lambda x: fp8_quantize(x, "e4m3", "rowwise", out=False), ValueError, r"ask for at least one of out=True"),
    (lambda x: fp8_quantize(x, out_t=1), TypeError, r"out_t must be a bool, got int"),
    (lambda x: fp8_amax(x), ValueError, r"ask for at least one of tensor=True, rows=True, cols=True"),
    (lambda x: fp8_amax(x, rows="yes"), TypeError, r"rows must be a bool, got str"),
    (lambda x: fp8_cast(x, "e4m3", torch.tensor(1.0)), TypeError, r"amax must be an Amax \(from fp8_amax\), got "
                                                                  r"Tensor"),
    (lambda x: fp8_cast(x, "e4m3", Amax(tensor=torch.ones(1))), ValueError,
     r"amax.tensor must be a float32 tensor of shape \(\) for a tensorwise cast of x \(4, 6\), got torch.float32 "
     r"\(1,\)"),
    (lambda x: fp8_cast(x, "e4m3", Amax(rows=torch.ones(4, 1)), "rowwise", out_t=True), ValueError,
     r"amax.cols must be a float32 tensor of shape \(1, 6\) for a rowwise cast of x \(4, 6\), got NoneType"),
    (lambda x: fp8_cast(x, "e4m3", Amax(tensor=torch.ones((), device="meta"))), ValueError,
     r"amax.tensor must be on x's device cpu, got meta"),
])
def test_bad_input_is_rejected(call, exc, message):
    with pytest.raises(exc, match=message):
        call(torch.ones(4, 6))


# ---------------------------------------------------------------------------------- on the GPU
GPU_RANDOM_SHAPE = (4096, 1000)  # (also in bench/test_bench_halo.py's sm90_launches)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("explicit", [False, True], ids=["hardware-cvt", "explicit-bits"])
@pytest.mark.parametrize("fmt", FMTS)
def test_gpu_cast_rounding_equals_the_cpu_reference(fmt, explicit):
    # the compiled kernel's conversion (cvt.rn.satfinite after the clamp) and the explicit bit
    # rounding, both against the CPU reference, on every code, midpoint and random value
    x = matrix(fmt)
    want = fp8_saturating(x, fmt)
    r = fp8_cast(x.cuda(), fmt, unit_amax(fmt), out=True, out_t=True, check=False, _explicit=explicit)
    assert_same_codes(r.q, want)
    assert_same_codes(r.qt, want.t())
    y = random_matrix(GPU_RANDOM_SHAPE, seed=9)
    for gran in ("tensorwise", "rowwise"):
        amax = fp8_amax(y.cuda(), tensor=gran == "tensorwise", rows=gran == "rowwise", cols=gran == "rowwise")
        r = fp8_cast(y.cuda(), fmt, amax, gran, out=True, out_t=True, _explicit=explicit)
        q0, s0 = quantize_fp8(y, fmt, gran)
        assert_same_codes(r.q, q0) and torch.equal(r.scale.cpu(), s0)
