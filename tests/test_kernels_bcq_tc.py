"""The tensor-core path (kernels/bcq_tc_gemm.py), the CuPy LUT kernel (kernels/lut_gemm_cupy.py)
and the dispatcher (kernels/bcq_gemm.py) for binary-coded weights.

All three are held to kernels.lut_gemm.lut_gemm_reference, the answer the Triton LUT kernel is
held to: the same format must give the same answer. Integer path (int8 x, int32 scales):
``torch.equal``, no tolerance. Float path: the bound stated in each kernel's docstring
(bcq_tc_tolerance; (K + 16) 2^-24 |x| |W| for the CuPy tables). Integer-valued float operands
small enough that every product and partial sum is an integer below 2^24: exact, on every path.

On the CPU the Triton kernels run in the interpreter (tiny shapes: every program is Python); the
CuPy kernel needs a GPU (tests marked ``gpu``), but its CUDA source is compiled for sm_90 here
when nvcc is installed, and its launch geometry is plain arithmetic, tested here.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from kernels.bcq import bcq_dequantize, bcq_quantize
from kernels.bcq_gemm import (
    TC_CROSSOVER_BATCH,
    bcq_gemm,
    bcq_gemm_reference,
    choose_path,
)
from kernels.bcq_tc_gemm import (
    bcq_tc_gemm,
    bcq_tc_tolerance,
    count_bcq_tc_ops,
    tc_config,
)
from kernels.lut_gemm import lut_gemm, lut_gemm_reference
from kernels.lut_gemm_cupy import (
    count_lut_cupy_ops,
    cuda_source,
    lut_gemm_cupy,
    lut_gemm_cupy_plan,
)
from kernels.testing import DEVICES, HAS_CUDA, NEEDS_GPU, bcq_int_case


def _skip_without_cupy():
    """Skip, with the reason, where CuPy, its GPU or its runtime compiler (NVRTC) is missing:
    kernels.lut_gemm_cupy.cupy_unavailable_reason compiles a one-line kernel to find out."""
    from kernels.lut_gemm_cupy import cupy_unavailable_reason

    reason = cupy_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)

needs_gpu = NEEDS_GPU


_int_case = bcq_int_case


def _float_case(M, N, K, q, g, dtype, seed, scale_dtype=None):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((M, K), generator=gen).to(dtype)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = (torch.rand((q, N, K // g), generator=gen) * 0.1 - 0.03).to(scale_dtype or dtype)
    return x, packed, scales


def _first_cases_only_on_gpu(device, case, gpu_cases):
    """On the GPU every (shape, dtype, q, group) is a new Triton compile, and the GPU check is held
    to a few minutes for the whole project: there the tile edges are covered by fewer cases (and by
    test_gpu_tc_and_dispatcher_at_benchmark_tiles), the interpreter runs them all."""
    if device == "cuda" and case not in gpu_cases:
        pytest.skip("interpreter-only case (compile time of the GPU check)")


def _lut_bound(x, packed, scales, g):
    """(K + 16) 2^-24 (|x| @ (sum_i |alpha_i|)^T): the fp32 rounding bound of the table kernels."""
    K = x.shape[1]
    w_abs = scales.to(torch.float64).abs().sum(0).repeat_interleave(g, dim=-1)
    return (K + 16) * 2.0**-24 * (x.to(torch.float64).abs() @ w_abs.T)


# ------------------------------------------------------------------------------- tensor cores, integer
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M,N,K,q,g", [
    (1, 1, 16, 1, 16),      # the smallest plane dot
    (3, 20, 64, 3, 32),     # N across two BLOCK_N tiles, two groups
    (17, 9, 48, 2, 16),     # M across two BLOCK_M tiles, K not a multiple of the 32-column step
    (2, 8, 96, 4, 48),      # q = 4, a group of 48 columns: 16-column steps
])
def test_tc_integer_path_is_exact(device, M, N, K, q, g):
    _first_cases_only_on_gpu(device, (M, N, K, q, g), [(1, 1, 16, 1, 16), (17, 9, 48, 2, 16)])
    x, packed, scales = _int_case(M, N, K, q, g, seed=M * 1000 + N * 10 + q)
    got = bcq_tc_gemm(x.to(device), packed.to(device), scales.to(device), g).cpu()
    want = lut_gemm_reference(x, packed, scales, g)
    assert got.dtype == torch.int32 and got.shape == (M, N)
    assert torch.equal(got, want)
    assert torch.equal(want.to(torch.int64), x.to(torch.int64) @ bcq_dequantize(packed, scales, g).T)


@pytest.mark.parametrize("device", DEVICES)
def test_tc_integer_extremes_and_strided_views(device):
    q, N, K, g = 4, 3, 96, 32
    x = torch.full((2, K), -128, dtype=torch.int8)
    packed = torch.zeros((q, N, K // 8), dtype=torch.uint8)  # every sign -1: each product +128 alpha
    scales = torch.full((q, N, K // g), 2**15, dtype=torch.int32)
    got = bcq_tc_gemm(x.to(device), packed.to(device), scales.to(device), g).cpu()
    assert torch.equal(got, torch.full((2, N), q * K * 128 * 2**15, dtype=torch.int32))  # 0.75 * 2**31
    # transposed activations, a sliced plane stack and non-contiguous scales are read in place
    xs, ps, ss = _int_case(4, 6, 32, 3, 16, seed=5)
    x_t = xs.T.contiguous().T
    p_big = torch.cat([ps, ps], dim=1).to(device)[:, ::2]  # sliced on the device: .to() would densify it
    s_t = ss.transpose(1, 2).contiguous().transpose(1, 2)
    assert not (x_t.is_contiguous() or p_big.is_contiguous() or s_t.is_contiguous())
    got = bcq_tc_gemm(x_t.to(device), p_big, s_t.to(device), 16).cpu()
    assert torch.equal(got, lut_gemm_reference(xs, p_big.cpu().contiguous(), ss, 16))


# ------------------------------------------------------------------------------- tensor cores, float
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("plane_dots", [False, True], ids=["dequant", "plane-dots"])
@pytest.mark.parametrize("M,N,K,q,g", [(2, 20, 64, 3, 32), (17, 6, 48, 2, 16)])
def test_tc_float_path_within_stated_tolerance(device, dtype, plane_dots, M, N, K, q, g):
    _first_cases_only_on_gpu(device, (M, N, K, q, g), [(2, 20, 64, 3, 32)])
    x, packed, scales = _float_case(M, N, K, q, g, dtype, seed=M + N + q)
    got = bcq_tc_gemm(x.to(device), packed.to(device), scales.to(device), g, plane_dots=plane_dots).cpu()
    want = bcq_gemm_reference(x, packed, scales, g)
    assert got.dtype == torch.float32 and got.shape == (M, N)
    # fp32 sums in another order than the float64 reference, plus (dequantise only) the rounding
    # of w to x's dtype: (u_in + (K + q + 2) 2^-24) |x| @ (sum |alpha|)^T, kernels/bcq_tc_gemm.py
    err = (got.to(torch.float64) - want.to(torch.float64)).abs()
    assert bool((err <= bcq_tc_tolerance(x, packed, scales, g, plane_dots=plane_dots)).all())


def test_tc_tolerance_is_tight_enough_to_catch_one_wrong_bit():
    """The check above can fail: a single flipped sign moves one output by 2 |x_k alpha|, far
    outside the bound; the dequantise bound without its u_in term is too tight for fp16 rounding."""
    M, N, K, q, g = 2, 8, 64, 2, 32
    x, packed, scales = _float_case(M, N, K, q, g, torch.float16, seed=11)
    tol = bcq_tc_tolerance(x, packed, scales, g)
    flipped = packed.clone()
    flipped[1, 5, 3] ^= 0x10  # plane 1, output row 5, column 8 * 3 + 4
    got = bcq_tc_gemm(x, flipped, scales, g)
    err = (got.to(torch.float64) - bcq_gemm_reference(x, packed, scales, g).to(torch.float64)).abs()
    assert bool((err[:, 5] > tol[:, 5]).all())
    assert bool((err[:, [0, 1, 2, 3, 4, 6, 7]] <= tol[:, [0, 1, 2, 3, 4, 6, 7]]).all())
    # without u_in (= what plane dots claim) the fp16 rounding of w breaks the bound somewhere
    got = bcq_tc_gemm(x, packed, scales, g)
    err = (got.to(torch.float64) - bcq_gemm_reference(x, packed, scales, g).to(torch.float64)).abs()
    assert not bool((err <= bcq_tc_tolerance(x, packed, scales, g, plane_dots=True)).all())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_integer_valued_float_operands_are_exact_on_every_path(device, dtype):
    """|x| <= 8 and scales in {+-1, +-2, +-4}: w = sum_i alpha_i b_i is an integer <= 16 (exact in
    fp16 and bf16), every product and partial sum an integer below 2^24, so fp32 rounds nothing
    whatever the order: the tensor cores (both modes) and the tables equal the reference exactly."""
    M, N, K, q, g = 5, 12, 64, 3, 16
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(-8, 9, (M, K), generator=gen).to(dtype)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = (torch.randint(0, 3, (q, N, K // g), generator=gen).exp2()
              * (torch.randint(0, 2, (q, N, K // g), generator=gen) * 2 - 1)).to(dtype)
    want = bcq_gemm_reference(x, packed, scales, g)
    assert float(want.abs().max()) < 2**24
    xd, pd, sd = x.to(device), packed.to(device), scales.to(device)
    for plane_dots in (False, True):
        assert torch.equal(bcq_tc_gemm(xd, pd, sd, g, plane_dots=plane_dots).cpu(), want), plane_dots
    if dtype == torch.float16:  # the Triton LUT kernel takes fp16, not bf16
        assert torch.equal(lut_gemm(xd, pd, sd, g).cpu(), want)


def test_tc_on_quantised_weights_approximates_the_layer():
    torch.manual_seed(4)
    w = torch.randn(24, 128)
    bcq = bcq_quantize(w, 3, 32)
    x = torch.randn(4, 128).to(torch.float16)
    got = bcq_tc_gemm(x, bcq.packed, bcq.scales, 32).to(torch.float64)
    full = x.to(torch.float64) @ w.to(torch.float64).T
    assert ((got - full).norm() / full.norm()).item() < 0.25  # 3 planes: ~17% weight error


# ------------------------------------------------------------------------------- dispatcher
def test_choose_path_by_batch_size():
    c = TC_CROSSOVER_BATCH
    # kernels/bcq_gemm.py's statement for an H200: tables at batch 1, tensor cores at batch 16
    for x_dtype, s_dtype in ((torch.float16, torch.float16), (torch.int8, torch.int32)):
        assert choose_path(1, x_dtype, s_dtype, 128, "cuda") == "lut"
        assert choose_path(16, x_dtype, s_dtype, 128, "cuda") == "tc"
    assert 1 < c <= 16
    assert choose_path(1, torch.float16, torch.float16, 128, "cuda") == "lut"
    assert choose_path(c - 1, torch.float32, torch.float32, 128, "cpu") == "lut"
    assert choose_path(c, torch.float16, torch.float16, 128, "cuda") == "tc"
    assert choose_path(1024, torch.int8, torch.int32, 128, "cuda") == "tc"
    assert choose_path(1024, torch.int8, torch.int32, 8, "cuda") == "lut"  # no 16-column plane step
    assert choose_path(1, torch.bfloat16, torch.bfloat16, 128, "cpu") == "tc"  # no table kernel on cpu
    assert choose_path(1, torch.float16, torch.bfloat16, 128, "cpu") == "tc"
    assert choose_path(4, torch.float16, torch.float16, 128, "cuda", crossover=4) == "tc"


@pytest.mark.parametrize("M", [1, TC_CROSSOVER_BATCH + 1])
def test_bcq_gemm_paths_agree_exactly_on_the_integer_path(M):
    x, packed, scales = _int_case(M, 10, 64, 2, 32, seed=M)
    want = lut_gemm_reference(x, packed, scales, 32)
    for path in ("auto", "lut", "tc"):
        assert torch.equal(bcq_gemm(x, packed, scales, 32, path=path), want), path


def test_bcq_gemm_rejects_bad_path_and_routes_dtype_errors():
    x, packed, scales = _int_case(2, 3, 16, 2, 8, seed=0)
    with pytest.raises(ValueError, match=r"path must be one of 'auto', 'lut', 'tc', 'cupy', got 'gpu'"):
        bcq_gemm(x, packed, scales, 8, path="gpu")
    with pytest.raises(ValueError, match=r"group_size 8 must be a multiple of 16 for the tensor-core plane dots"):
        bcq_gemm(x, packed, scales, 8, path="tc")
    with pytest.raises(TypeError, match=r"x must be float16/bfloat16/float32 for lut_gemm_cupy"):
        bcq_gemm(x, packed, scales, 8, path="cupy")
    xb = torch.randn(2, 16).to(torch.bfloat16)
    with pytest.raises(TypeError, match=r"x must be int8 \(exact path\) or float16/float32 \(float path\), got torch.bfloat16"):
        bcq_gemm(xb, packed, scales.to(torch.bfloat16), 8, path="lut")


# ------------------------------------------------------------------------------- bad input
XI, PI, SI = _int_case(2, 3, 32, 2, 16, seed=0)


@pytest.mark.parametrize("args,kwargs,exc,message", [
    ((XI.to(torch.int32), PI, SI, 16), {}, TypeError,
     r"x must be int8 \(exact path\) or float16/bfloat16/float32 \(float path\), got torch.int32"),
    ((XI[0], PI, SI, 16), {}, ValueError, r"x must be a 2-D \(M, K\) matrix, got shape \(32,\)"),
    ((XI, PI.to(torch.int8), SI, 16), {}, TypeError, r"packed must have dtype torch.uint8 \(8 sign bits per byte\), got torch.int8"),
    ((XI, PI[0], SI, 16), {}, ValueError, r"packed must be 3-D \(q, N, K/8\), got shape \(3, 4\)"),
    ((XI, torch.zeros((5, 3, 4), dtype=torch.uint8), SI, 16), {}, ValueError, r"packed holds q = 5 binary planes; q must be in 1..4"),
    ((XI[:, :12], PI, SI, 16), {}, ValueError, r"K = 12 \(x's columns\) must be a positive multiple of 8"),
    ((XI, PI[:, :, :2], SI, 16), {}, ValueError, r"packed has 2 bytes per row, i.e. K = 16, but x has K = 32 columns"),
    ((XI, PI, SI, 12), {}, ValueError, r"group_size must be a positive multiple of 8"),
    ((XI, PI, SI, 32), {}, ValueError, r"scales must have shape \(q, N, K/group_size\) = \(2, 3, 1\), got \(2, 3, 2\)"),
    ((XI, PI, SI.float(), 16), {}, TypeError, r"int8 x takes the exact path and needs int32 scales, got torch.float32"),
    ((XI.half(), PI, SI, 16), {}, TypeError, r"float x needs float16/bfloat16/float32 scales, got torch.int32"),
    ((XI, PI, SI.numpy(), 16), {}, TypeError, r"scales must be a torch.Tensor, got ndarray"),
    ((XI, PI, torch.zeros((2, 3, 4), dtype=torch.int32), 8), {}, ValueError,
     r"group_size 8 must be a multiple of 16 for the tensor-core plane dots \(int8 x always uses them\)"),
    ((XI.half(), PI, torch.zeros((2, 3, 4), dtype=torch.float16), 8), {"plane_dots": True}, ValueError,
     r"group_size 8 must be a multiple of 16 for the tensor-core plane dots \(plane_dots=True\)"),
    ((XI.half(), PI, SI.half(), 16), {"plane_dots": 1}, TypeError, r"plane_dots must be a bool, got int"),
    ((XI, PI, torch.full_like(SI, 2**20), 16), {}, ValueError,
     r"int32 overflow possible: q \* K \* 128 \* max\|scale\| = 2 \* 32 \* 128 \* 1048576 = 8589934592 exceeds 2\*\*31-1"),
])
def test_tc_rejects_bad_input(args, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        bcq_tc_gemm(*args, **kwargs)


def test_tc_accepts_float_x_with_group_size_8_by_dequantising():
    x, packed, scales = _float_case(2, 5, 40, 2, 8, torch.float16, seed=9)  # 8-column groups, K tail
    got = bcq_tc_gemm(x, packed, scales, 8)
    err = (got.double() - bcq_gemm_reference(x, packed, scales, 8).double()).abs()
    assert bool((err <= bcq_tc_tolerance(x, packed, scales, 8)).all())


# ------------------------------------------------------------------------------- op counter
def test_op_counter():
    ops = count_bcq_tc_ops(M=20, N=10, K=64, q=3, group_size=32, block_m=16)
    assert ops.block_m == 16 and not ops.plane_dots
    assert ops.bit_extracts == ops.dequant_selects == ops.dequant_adds == 2 * 3 * 10 * 64  # 2 row tiles
    assert ops.dot_macs == 20 * 10 * 64 and ops.scale_muls == ops.scale_adds == 0
    assert ops.bytes_moved == 20 * 64 * 2 + 3 * 10 * 8 + 3 * 10 * 2 * 2 + 20 * 10 * 4
    assert ops.dense_equivalent_flops == 2 * 20 * 10 * 64
    planes = count_bcq_tc_ops(M=20, N=10, K=64, q=3, group_size=32, plane_dots=True, block_m=16, block_k=32,
                              act_bytes=1, scale_bytes=4)
    assert planes.dot_macs == 3 * 20 * 10 * 64 and planes.dequant_adds == 0
    assert planes.scale_muls == planes.scale_adds == 3 * 20 * 10 * 2 and planes.adds == 3 * 20 * 10 * 2
    assert planes.bytes_moved == 20 * 64 + 3 * 10 * 8 + 3 * 10 * 2 * 4 + 20 * 10 * 4
    # the default tile is the GPU config's: M <= 16 -> 16 rows, K step within a 32-column group
    assert count_bcq_tc_ops(1, 8, 64, 1, 32).block_m == 16
    with pytest.raises(ValueError, match=r"K = 12 must be a multiple of 8"):
        count_bcq_tc_ops(1, 1, 12, 1, 8)
    with pytest.raises(ValueError, match=r"q must be in 1..4, got 5"):
        count_bcq_tc_ops(1, 1, 8, 5, 8)
    with pytest.raises(ValueError, match=r"block_m must be a positive int, got 0"):
        count_bcq_tc_ops(1, 1, 8, 1, 8, block_m=0)


def test_tc_config_clamps_the_k_step():
    assert tc_config(1, 8192, 128, False, interpret=False)["BLOCK_K"] == 128
    assert tc_config(1, 8192, 64, True, interpret=False)["BLOCK_K"] == 64  # inside one group
    assert tc_config(1, 8192, 48, True, interpret=False)["BLOCK_K"] == 16
    assert tc_config(1024, 48, 16, False, interpret=False)["BLOCK_K"] == 64
    assert tc_config(1024, 8192, 128, False, interpret=False)["BLOCK_M"] == 128
    assert tc_config(1024, 8192, 128, False, interpret=False, fp32=True)["BLOCK_K"] == 16


def test_tc_config_gives_plane_dots_their_own_tile_above_decode():
    """Plane dots keep a partial-product tile beside the accumulator: above 16 rows they take
    TC_CONFIG_PLANE_DOTS (the 128-row tile spilled on sm_90), at decode the shared 16-row tile."""
    from kernels.bcq_tc_gemm import TC_CONFIG_PLANE_DOTS, TC_CONFIGS

    bm, bn, bk, warps, stages = TC_CONFIG_PLANE_DOTS
    want = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "num_warps": warps, "num_stages": stages}
    for M in (17, 64, 1024):
        assert tc_config(M, 8192, 128, True, interpret=False) == want, M
    assert tc_config(1024, 8192, 128, False, interpret=False)["BLOCK_N"] == TC_CONFIGS[-1][2]
    assert tc_config(16, 8192, 128, True, interpret=False)["BLOCK_M"] == 16


# ------------------------------------------------------------------------------- CuPy LUT kernel, CPU side
def test_cupy_plan_splits_k_for_decode_and_not_for_batches():
    plan = lut_gemm_cupy_plan(1, 28672, 8192, 128, sm_count=132)
    # 56 blocks of 512 rows; 4 per SM wants 528 blocks -> 10 splits of 7 chunks (the last 1)
    assert plan == {"MT": 1, "TB": 16, "chunks": 64, "chunks_per_split": 7, "ksplit": 10, "grid": (1, 56, 10)}
    plan = lut_gemm_cupy_plan(16, 28672, 8192, 128, sm_count=132)
    assert plan["MT"] == 2 and plan["ksplit"] == 2 and plan["grid"] == (8, 56, 2)
    assert lut_gemm_cupy_plan(256, 28672, 8192, 128, sm_count=132)["ksplit"] == 1  # 7168 blocks
    assert lut_gemm_cupy_plan(3, 10, 64, 8, sm_count=132) == {
        "MT": 2, "TB": 1, "chunks": 8, "chunks_per_split": 1, "ksplit": 8, "grid": (2, 1, 8)}
    assert lut_gemm_cupy_plan(1, 10, 96, 48, sm_count=4)["TB"] == 2  # 6-byte groups: 2-byte chunks


def test_cupy_op_counter_adds_chunked_scales_and_split_traffic():
    ops = count_lut_cupy_ops(1, 28672, 8192, 3, 128, sm_count=132)
    lut = ops.lut
    assert lut.table_reads == 3 * 28672 * 1024 and lut.table_builds == 1024  # the algorithm's count
    assert ops.ksplit == 10 and ops.split_adds == 9 * 28672
    assert ops.scale_muls == lut.scale_muls == 3 * 28672 * 64  # a 16-byte chunk is a 128-column group
    assert ops.workspace_bytes == 2 * 10 * 28672 * 4
    assert ops.bytes_moved == lut.bytes_moved + ops.workspace_bytes
    assert lut.bytes_moved == 8192 * 2 + 3 * 28672 * 1024 + 3 * 28672 * 64 * 2 + 28672 * 4
    big = count_lut_cupy_ops(256, 28672, 8192, 2, 256, sm_count=132)
    assert big.ksplit == 1 and big.workspace_bytes == 0 and big.split_adds == 0
    assert big.scale_muls == 2 * big.lut.scale_muls  # 2 chunks of 16 bytes per 256-column group
    with pytest.raises(ValueError, match=r"sm_count must be a positive int, got 0"):
        count_lut_cupy_ops(1, 8, 64, 1, 8, sm_count=0)


CPU_F16 = _float_case(2, 3, 32, 2, 16, torch.float16, seed=0)


@pytest.mark.parametrize("args,exc,message", [
    ((XI, PI, SI, 16), TypeError, r"x must be float16/bfloat16/float32 for lut_gemm_cupy \(fp32 tables\), got torch.int8"),
    (CPU_F16 + (16,), ValueError, r"x, packed and scales must be on a CUDA device for lut_gemm_cupy, got cpu"),
    ((CPU_F16[0], CPU_F16[1], CPU_F16[2].to(torch.int32), 16), TypeError,
     r"float x needs float16/bfloat16/float32 scales, got torch.int32"),
    ((CPU_F16[0], CPU_F16[1][:, :2], CPU_F16[2], 16), ValueError,
     r"scales must have shape \(q, N, K/group_size\) = \(2, 2, 2\), got \(2, 3, 2\)"),
])
def test_cupy_rejects_bad_input_before_needing_a_gpu(args, exc, message):
    with pytest.raises(exc, match=message):
        lut_gemm_cupy(*args)


def test_cupy_without_cupy_says_so():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    from kernels.lut_gemm_cupy import _import_cupy

    with pytest.raises(RuntimeError, match=r"^lut_gemm_cupy needs CuPy \(pip install cupy-cuda13x\) and a CUDA GPU; CuPy is not installed$"):
        _import_cupy()
    from kernels.lut_gemm_cupy import cupy_unavailable_reason

    assert cupy_unavailable_reason().endswith("CuPy is not installed")


def test_cupy_probe_reports_a_broken_runtime_compiler(monkeypatch):
    """A CuPy that imports and sees a GPU but whose NVRTC fails: the probe says so (GPU tests skip
    with that reason), lut_gemm_cupy raises it, and "auto" does not pick the CuPy path."""
    import sys
    import types

    from kernels import lut_gemm_cupy as cupy_module

    class RawKernel:
        def __init__(self, source, name):
            pass

        def compile(self):
            raise OSError("libnvrtc.so.13: cannot open shared object file")

    class Device:
        def __init__(self, index):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    fake = types.SimpleNamespace(RawKernel=RawKernel, cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), Device=Device,
        compiler=types.SimpleNamespace(compile_using_nvrtc=None)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    cupy_module.cupy_unavailable_reason.cache_clear()
    try:
        reason = cupy_module.cupy_unavailable_reason()
        assert choose_path(1, torch.bfloat16, torch.bfloat16, 128, "cuda") == "tc"
    finally:
        cupy_module.cupy_unavailable_reason.cache_clear()
    assert reason.startswith("the CuPy kernels need CuPy's runtime compiler (NVRTC), which failed on a one-line kernel")
    assert "OSError: libnvrtc.so.13" in reason


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc to compile the CUDA source without a GPU")
@pytest.mark.parametrize("q,mt,tb,x_dtype,s_dtype,vec", [
    (4, 2, 16, torch.float16, torch.float16, True),   # the benchmark's variant at batch > 1
    (3, 1, 1, torch.bfloat16, torch.float32, False),  # 8-column groups, byte loads
])
def test_cupy_source_compiles_for_hopper_without_spills(tmp_path, q, mt, tb, x_dtype, s_dtype, vec):
    src = tmp_path / "lut.cu"
    src.write_text(cuda_source(q, mt, tb, x_dtype, s_dtype, vec))
    r = subprocess.run(["nvcc", "-arch=sm_90", "-cubin", "-std=c++14", "-Xptxas", "-v", "-o",
                        str(tmp_path / "lut.cubin"), str(src)], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "lut_gemm_cupy_kernel" in r.stderr and "lut_gemm_cupy_reduce" in r.stderr
    assert "0 bytes spill stores" in r.stderr and " bytes spill stores" not in r.stderr.replace("0 bytes spill stores", "")


# ------------------------------------------------------------------------------- CuPy LUT kernel, run on the CPU
# The kernel's own CUDA text, compiled as C++ with g++: one OS thread per CUDA thread, blocks run
# one after another, __syncthreads a std::barrier of the block's threads, __shared__ a static array
# (one block at a time uses it), __ldg a plain load. Everything else is the kernel as NVRTC sees it.
_HOST_PRELUDE = r"""
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>
using std::min;
#define LUT_GEMM_HOST_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
struct dim3h { unsigned x, y, z; };
static thread_local dim3h threadIdx;
static dim3h blockIdx, blockDim;
static std::barrier<>* block_barrier;
#define __syncthreads() block_barrier->arrive_and_wait()
struct uint4 { unsigned int x, y, z, w; };
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
template <class T> static inline T __ldg(const T* p) { return *p; }
static inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline float host_f16_to_f32(unsigned short h) {
    const int e = (h >> 10) & 31, m = h & 1023;
    const float v = e == 0 ? std::ldexp((float)m, -24) : e == 31 ? (m ? NAN : INFINITY)
                           : std::ldexp((float)(m | 1024), e - 25);
    return (h >> 15) ? -v : v;
}
"""

_HOST_MAIN = r"""
static void* slurp(const char* path) {
    FILE* f = std::fopen(path, "rb");
    std::fseek(f, 0, SEEK_END);
    const long n = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    void* p = std::aligned_alloc(64, ((n + 63) / 64) * 64 + 64);
    if (std::fread(p, 1, n, f) != (size_t)n) std::abort();
    std::fclose(f);
    return p;
}

int main(int argc, char** argv) {
    // argv: x p s y, then M N chunks bytes_per_group chunks_per_split sxm sxk spq spn spk ssq ssn ssg gx gy gz
    long long a[16];
    for (int i = 0; i < 16; ++i) a[i] = std::atoll(argv[5 + i]);
    const long long M = a[0], N = a[1], gx = a[13], gy = a[14], ksplit = a[15], count = M * N;
    const x_t* X = (const x_t*)slurp(argv[1]);
    const unsigned char* P = (const unsigned char*)slurp(argv[2]);
    const s_t* S = (const s_t*)slurp(argv[3]);
    std::vector<float> y(count, NAN), part(ksplit > 1 ? ksplit * count : 0, NAN);
    float* out = ksplit > 1 ? part.data() : y.data();
    for (long long bz = 0; bz < ksplit; ++bz)
        for (long long by = 0; by < gy; ++by)
            for (long long bx = 0; bx < gx; ++bx) {
                blockIdx = {(unsigned)bx, (unsigned)by, (unsigned)bz};
                blockDim = {THREADS, 1, 1};
                std::barrier<> bar(THREADS);
                block_barrier = &bar;
                std::vector<std::thread> threads;
                for (unsigned t = 0; t < THREADS; ++t)
                    threads.emplace_back([&, t] {
                        threadIdx = {t, 0, 0};
                        lut_gemm_cupy_kernel(X, P, S, out, M, N, a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                                             a[10], a[11], a[12], ksplit > 1 ? count : 0, N, 1);
                    });
                for (auto& th : threads) th.join();
            }
    if (ksplit > 1) {
        blockDim = {256, 1, 1};
        for (long long b = 0; b < (count + 255) / 256; ++b)
            for (unsigned t = 0; t < 256; ++t) {
                blockIdx = {(unsigned)b, 0, 0};
                threadIdx = {t, 0, 0};
                lut_gemm_cupy_reduce(part.data(), y.data(), ksplit, count);
            }
    }
    FILE* f = std::fopen(argv[4], "wb");
    std::fwrite(y.data(), sizeof(float), count, f);
    std::fclose(f);
    return 0;
}
"""
_HOST_BINARIES = {}


def _run_cuda_source_on_cpu(tmp_path, x, x_base, packed, p_base, scales, s_base, g, sm_count):
    """lut_gemm_cupy's launch (plan, vector-load choice, strides) with the kernel run by g++ code."""
    M, K = x.shape
    q, N, _ = packed.shape
    plan = lut_gemm_cupy_plan(M, N, K, g, sm_count)
    for view, base in ((x, x_base), (packed, p_base), (scales, s_base)):
        assert view.data_ptr() == base.data_ptr() and base.is_contiguous()
    vec = plan["TB"] == 16 and packed.stride(2) == 1 and packed.stride(0) % 16 == 0 and packed.stride(1) % 16 == 0
    src = _HOST_PRELUDE + cuda_source(q, plan["MT"], plan["TB"], x.dtype, scales.dtype, vec) + _HOST_MAIN
    if src not in _HOST_BINARIES:
        (tmp_path / "lut_host.cpp").write_text(src)
        exe = tmp_path / "lut_host"
        r = subprocess.run(["g++", "-std=c++20", "-O1", "-pthread", "-w", "-o", str(exe), str(tmp_path / "lut_host.cpp")],
                           capture_output=True, text=True, timeout=300, check=False)
        assert r.returncode == 0, r.stderr[-3000:]
        _HOST_BINARIES[src] = exe
    files = []
    for name, base in (("x", x_base), ("p", p_base), ("s", s_base)):
        raw = base.view(torch.int16) if base.dtype in (torch.float16, torch.bfloat16) else base
        (tmp_path / name).write_bytes(raw.numpy().tobytes())
        files.append(str(tmp_path / name))
    nums = [M, N, plan["chunks"], g // 8, plan["chunks_per_split"], *x.stride(), *packed.stride(), *scales.stride(),
            *plan["grid"]]
    r = subprocess.run([str(_HOST_BINARIES[src]), *files, str(tmp_path / "y"), *map(str, nums)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    y = torch.frombuffer(bytearray((tmp_path / "y").read_bytes()), dtype=torch.float32).reshape(M, N)
    return y, plan, vec


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (C++20) to run the CUDA source on the CPU")


@needs_gxx
@pytest.mark.parametrize("M,N,K,q,g,dtype,s_dtype,sm_count,want_vec,want_mt,want_tb,want_ksplit", [
    (1, 600, 1024, 3, 128, torch.float16, torch.float16, 8, True, 1, 16, 8),   # decode: 8 K-split partials
    (3, 520, 256, 4, 64, torch.bfloat16, torch.float32, 1, False, 2, 8, 1),    # padding row, no split
    (5, 40, 48, 2, 8, torch.float32, torch.bfloat16, 1, False, 2, 1, 2),       # 1-byte chunks
])
def test_cuda_source_run_on_cpu_matches_reference(tmp_path, M, N, K, q, g, dtype, s_dtype, sm_count,
                                                  want_vec, want_mt, want_tb, want_ksplit):
    x, packed, scales = _float_case(M, N, K, q, g, dtype, seed=N + q, scale_dtype=s_dtype)
    x_base, p_base = x, packed
    if not want_vec:  # a transposed x and a sliced plane stack: the kernel reads any strides
        x_base = x.T.contiguous()
        x = x_base.T
        p_base = torch.cat([packed, packed], dim=1).contiguous()
        packed = p_base[:, ::2]
    y, plan, vec = _run_cuda_source_on_cpu(tmp_path, x, x_base, packed, p_base, scales, scales, g, sm_count)
    assert (vec, plan["MT"], plan["TB"], plan["ksplit"]) == (want_vec, want_mt, want_tb, want_ksplit)
    want = bcq_gemm_reference(x.contiguous(), packed.contiguous(), scales, g)
    assert bool(((y.double() - want.double()).abs() <= _lut_bound(x, packed, scales, g)).all())


@needs_gxx
def test_cuda_source_run_on_cpu_is_exact_on_integer_values(tmp_path):
    M, N, K, q, g = 2, 513, 512, 3, 128
    gen = torch.Generator().manual_seed(6)
    x = torch.randint(-8, 9, (M, K), generator=gen).to(torch.float16)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = torch.randint(-4, 5, (q, N, K // g), generator=gen).to(torch.float16)
    y, plan, vec = _run_cuda_source_on_cpu(tmp_path, x, x, packed, packed, scales, scales, g, sm_count=4)
    assert vec and plan["ksplit"] == 4
    assert torch.equal(y, bcq_gemm_reference(x, packed, scales, g))
    # and a wrong bit shows: the check is not vacuous
    flipped = packed.clone()
    flipped[2, 512, 63] ^= 0x80
    y, _, _ = _run_cuda_source_on_cpu(tmp_path, x, x, flipped, flipped, scales, scales, g, sm_count=4)
    diff = (y - bcq_gemm_reference(x, packed, scales, g)).abs()
    assert bool((diff[:, 512] > 0).any()) and float(diff[:, :512].max()) == 0.0


# ------------------------------------------------------------------------------- GPU compile, no GPU
_AOT = textwrap.dedent("""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from kernels.bcq_tc_gemm import bcq_tc_gemm_kernel, tc_config
    # (x, scales, y pointer types, M, plane dots): decode dequantise, mid bf16, big int8 plane dots
    for xt, st, yt, M, plane in [("*fp16", "*fp16", "*fp32", 1, False), ("*bf16", "*bf16", "*fp32", 64, False),
                                 ("*i8", "*i32", "*i32", 1024, True)]:
        cfg = tc_config(M, 8192, 128, plane, interpret=False)
        opts = {"num_warps": cfg.pop("num_warps"), "num_stages": cfg.pop("num_stages")}
        consts = {"GROUP": 128, "Q": 3, "PLANE_DOTS": plane, "INTEGER": xt == "*i8", "DOT_FP32": False,
                  "INT_DOT_F16": False, **cfg}
        sig = {"x_ptr": xt, "p_ptr": "*u8", "s_ptr": st, "y_ptr": yt}
        sig |= {n: "constexpr" if n in consts else "i32" for n in bcq_tc_gemm_kernel.arg_names[4:]}
        k = triton.compile(ASTSource(fn=bcq_tc_gemm_kernel, signature=sig, constexprs=consts),
                           target=GPUTarget("cuda", 90, 32), options=opts)
        assert ".entry bcq_tc_gemm_kernel" in k.asm["ptx"], (xt, M)
        assert k.metadata.shared <= 227 * 1024, (xt, M, k.metadata.shared)  # H100: 227 KB per block
        if M >= 64:
            assert "wgmma" in k.asm["ptx"], (xt, M)  # Hopper's warp-group tensor-core MMA
    print("compiled")
""")


def test_tc_kernel_compiles_for_hopper_without_a_gpu():
    """The compiled path, checked on a CPU machine: Triton lowers the kernel to sm_90 PTX, with
    wgmma tensor-core instructions for the 64- and 128-row tiles and shared memory that fits."""
    try:
        from triton.backends.compiler import GPUTarget  # noqa: F401
        from triton.compiler import ASTSource  # noqa: F401
    except ImportError as e:
        pytest.skip(f"this Triton has no ahead-of-time compile API: {e}")
    env = dict(os.environ, TRITON_INTERPRET="0")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", _AOT], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0 and "compiled" in r.stdout, r.stderr[-3000:]


# ------------------------------------------------------------------------------- GPU only
@pytest.mark.parametrize("dtype,s_dtype,M,N,K,q,g", [
    (torch.float16, torch.float16, 1, 1000, 1024, 3, 128),    # decode: K split into partials and reduced
    (torch.bfloat16, torch.bfloat16, 3, 700, 512, 4, 64),     # a padding row, 8-byte chunks, N % 512 != 0
    (torch.float32, torch.float32, 5, 64, 96, 1, 8),          # 1-byte chunks
    (torch.float16, torch.float32, 17, 1100, 2048, 2, 256),   # batch across 9 two-row blocks
    (torch.bfloat16, torch.float16, 1, 28672, 8192, 4, 128),  # the benchmark's layer at decode
])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_cupy_matches_reference_within_fp32_rounding(dtype, s_dtype, M, N, K, q, g):
    _skip_without_cupy()
    x, packed, scales = _float_case(M, N, K, q, g, dtype, seed=M + q, scale_dtype=s_dtype)
    got = lut_gemm_cupy(x.cuda(), packed.cuda(), scales.cuda(), g).cpu()
    assert got.dtype == torch.float32 and got.shape == (M, N)
    rows = slice(0, 1100)  # the reference of the 28672-row layer on its first rows (a dense W is GBs)
    p, s = packed[:, rows], scales[:, rows]
    want = bcq_gemm_reference(x, p, s, g)
    assert bool(((got[:, rows].double() - want.double()).abs() <= _lut_bound(x, p, s, g)).all())


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_cupy_integer_valued_exact_and_strided():
    _skip_without_cupy()
    M, N, K, q, g = 3, 600, 256, 3, 128
    gen = torch.Generator().manual_seed(8)
    x = torch.randint(-8, 9, (M, K), generator=gen).to(torch.float16)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = torch.randint(-4, 5, (q, N, K // g), generator=gen).to(torch.float16)
    want = bcq_gemm_reference(x, packed, scales, g)
    assert torch.equal(lut_gemm_cupy(x.cuda(), packed.cuda(), scales.cuda(), g).cpu(), want)
    # a sliced plane stack (byte loads instead of 16-byte loads), transposed x and scales
    p_big = torch.cat([packed, packed], dim=1).cuda()[:, ::2]  # sliced on the GPU: .cuda() would densify it
    assert not p_big.is_contiguous()
    x_t = x.T.contiguous().T.cuda()
    s_t = scales.transpose(1, 2).contiguous().transpose(1, 2).cuda()
    want = bcq_gemm_reference(x, p_big.cpu().contiguous(), scales, g)
    assert torch.equal(lut_gemm_cupy(x_t, p_big, s_t, g).cpu(), want)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("M", [1, 16, 300])
def test_gpu_tc_and_dispatcher_at_benchmark_tiles(M):
    """The GPU tile configs (16, 64 and 128 rows) against the reference on a mid-size layer."""
    N, K, q, g = 1000, 1024, 3, 128
    x, packed, scales = _float_case(M, N, K, q, g, torch.float16, seed=M)
    want = bcq_gemm_reference(x, packed, scales, g)
    tol = bcq_tc_tolerance(x, packed, scales, g)
    for path in ("tc", "auto"):
        got = bcq_gemm(x.cuda(), packed.cuda(), scales.cuda(), g, path=path).cpu()
        assert bool(((got.double() - want.double()).abs() <= torch.maximum(tol, _lut_bound(x, packed, scales, g))).all()), path
    xi, pi, si = _int_case(M, N, K, q, g, seed=M)
    assert torch.equal(bcq_tc_gemm(xi.cuda(), pi.cuda(), si.cuda(), g).cpu(), lut_gemm_reference(xi, pi, si, g))
