"""Binary-coding quantiser (kernels/bcq.py) and the Triton LUT GEMM (kernels/lut_gemm.py).

The kernel runs in Triton's interpreter on the CPU here (sizes kept small: every program instance
is Python), compiled on a GPU (tests marked ``gpu``). Integer path: ``torch.equal`` against the
reference, no tolerance. Float path: the fp32 rounding bound stated in kernels/lut_gemm.py.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.bcq import (
    BCQWeight,
    bcq_dequantize,
    bcq_quantize,
    pack_signs,
    pow2_scales,
    unpack_signs,
)
from kernels.lut_gemm import (
    TABLE_BUILD_ADDS,
    count_lut_ops,
    lut_gemm,
    lut_gemm_pow2,
    lut_gemm_reference,
)
from kernels.testing import DEVICES, bcq_int_case


_int_case = bcq_int_case


# ------------------------------------------------------------------------------- quantiser
def test_quantiser_error_decreases_with_q_and_with_refinement():
    torch.manual_seed(0)
    w = torch.randn(32, 128)
    errors = []
    for q in range(1, 5):
        greedy = bcq_quantize(w, q, 32, iters=0)
        refined = bcq_quantize(w, q, 32, iters=5)
        e_greedy = (greedy.dequantize() - w).norm().item()
        e_refined = (refined.dequantize() - w).norm().item()
        assert e_refined <= e_greedy * (1 + 1e-6), q  # alternating steps never increase the error
        errors.append(e_refined / w.norm().item())
        assert refined.packed.dtype == torch.uint8 and refined.packed.shape == (q, 32, 16)
        assert refined.scales.dtype == torch.float32 and refined.scales.shape == (q, 32, 4)
        assert refined.shape == (32, 128) and refined.q == q
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[0] < 0.62 and errors[-1] < 0.12  # Gaussian weights: ~0.59, 0.33, 0.17, 0.10


def test_quantiser_is_exact_on_binary_coded_weights():
    torch.manual_seed(1)
    signs = torch.randint(0, 2, (2, 4, 16)) * 2 - 1
    w = (torch.tensor([3.0, 0.5])[:, None, None] * signs).sum(0)  # two planes, one group
    got = bcq_quantize(w, 2, 16)
    torch.testing.assert_close(got.dequantize(), w, rtol=0, atol=1e-5)


def test_pack_bit_order():
    # bit t of byte kb is column 8*kb + t, 1 = +1
    one_hot = -torch.ones(16, dtype=torch.int8)
    one_hot[0] = 1
    one_hot[15] = 1
    assert pack_signs(one_hot).tolist() == [1, 128]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(0, 2**31))
def test_pack_round_trips(lead, rows, kbytes, seed):
    gen = torch.Generator().manual_seed(seed)
    signs = (torch.randint(0, 2, (lead, rows, 8 * kbytes), generator=gen) * 2 - 1).to(torch.int8)
    packed = pack_signs(signs)
    assert packed.dtype == torch.uint8 and packed.shape == (lead, rows, kbytes)
    assert torch.equal(unpack_signs(packed), signs)
    assert torch.equal(pack_signs(unpack_signs(packed)), packed)


def test_pow2_scales_feed_the_integer_path_exactly():
    """Quantiser -> power-of-two scales -> the exact integer kernel: base * y_int == x W_pow2^T."""
    torch.manual_seed(2)
    w = torch.randn(12, 64)
    bcq = bcq_quantize(w, 3, 32)
    scales = bcq.scales.clone()
    scales[1, 0, 0] *= -1  # a negative scale: its sign must fold into that group's bits
    bcq = BCQWeight(bcq.packed, scales, 32)
    packed, exps, base = pow2_scales(bcq, exp_bits=4)
    assert exps.dtype == torch.int64 and int(exps.min()) >= 0 and int(exps.max()) == 15
    flipped = torch.zeros_like(packed, dtype=torch.bool)
    flipped[1, 0, :4] = True  # group 0 of row 0, plane 1: its 4 bytes inverted, nothing else
    assert torch.equal(packed, torch.where(flipped, bcq.packed ^ 0xFF, bcq.packed))
    w_pow2 = base * bcq_dequantize(packed, (1 << exps).to(torch.int32), 32).to(torch.float64)
    # each scale is within a factor sqrt(2) of its power of two, so W_pow2 stays close to BCQ's W
    assert ((w_pow2 - bcq.dequantize().double()).norm() / bcq.dequantize().norm()).item() < 0.35
    x = torch.randint(-128, 128, (3, 64), dtype=torch.int8)
    y = base * lut_gemm_pow2(x, packed, exps, 32).to(torch.float64)
    torch.testing.assert_close(y, x.double() @ w_pow2.T, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match=r"exp_bits must be an integer in 1..5, got 6"):
        pow2_scales(bcq, exp_bits=6)


W = torch.zeros(4, 64)


@pytest.mark.parametrize("call,exc,message", [
    (lambda: bcq_quantize(W, 0, 32), ValueError, r"q \(binary planes\) must be an integer in 1..4, got 0"),
    (lambda: bcq_quantize(W, 5, 32), ValueError, r"must be an integer in 1..4, got 5"),
    (lambda: bcq_quantize(W, 2.0, 32), ValueError, r"must be an integer in 1..4, got 2.0"),
    (lambda: bcq_quantize(W, 2, 12), ValueError, r"group_size must be a positive multiple of 8 \(whole bytes of sign bits\), got 12"),
    (lambda: bcq_quantize(W, 2, 24), ValueError, r"group_size 24 must divide K = 64"),
    (lambda: bcq_quantize(W.to(torch.int32), 2, 32), TypeError, r"w must be a floating-point tensor, got dtype torch.int32"),
    (lambda: bcq_quantize(W[0], 2, 32), ValueError, r"w must be a 2-D \(N, K\) matrix, got shape \(64,\)"),
    (lambda: bcq_quantize(W.numpy(), 2, 32), TypeError, r"w must be a torch.Tensor, got ndarray"),
    (lambda: bcq_quantize(torch.full((2, 8), float("nan")), 1, 8), ValueError, r"w holds NaN or infinite values"),
    (lambda: bcq_quantize(W, 2, 32, iters=-1), ValueError, r"iters must be a non-negative integer, got -1"),
    (lambda: pack_signs(torch.ones(12, dtype=torch.int8)), ValueError, r"last dimension must be a multiple of 8, got shape \(12,\)"),
    (lambda: pack_signs(torch.zeros(8, dtype=torch.int8)), ValueError, r"signs must hold only -1 and \+1"),
    (lambda: pack_signs(torch.ones(8)), TypeError, r"signs must be an integer tensor of -1 and \+1, got dtype torch.float32"),
    (lambda: unpack_signs(torch.ones(2, dtype=torch.int8)), TypeError, r"packed must be a torch.uint8 tensor, got torch.int8"),
])
def test_quantiser_and_packing_reject_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ------------------------------------------------------------------------------- kernel, integer path
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M,N,K,q,g", [
    (1, 1, 8, 1, 8),        # the smallest GEMM
    (1, 40, 64, 3, 32),     # GEMV, N across three BLOCK_N tiles
    (5, 17, 48, 2, 16),     # batch, odd N
    (3, 8, 96, 4, 24),      # q = 4, groups of 3 bytes
    (18, 9, 16, 3, 8),      # M across two BLOCK_M tiles, q = 3 padded to 4 planes
])
def test_kernel_integer_path_is_exact(device, M, N, K, q, g):
    x, packed, scales = _int_case(M, N, K, q, g, seed=M * 1000 + N * 10 + q)
    got = lut_gemm(x.to(device), packed.to(device), scales.to(device), g).cpu()
    want = lut_gemm_reference(x, packed, scales, g)
    assert got.dtype == torch.int32 and got.shape == (M, N)
    assert torch.equal(got, want)
    dense = bcq_dequantize(packed, scales, g)  # int64 (N, K)
    assert torch.equal(want.to(torch.int64), x.to(torch.int64) @ dense.T)


@pytest.mark.parametrize("device", DEVICES)
def test_kernel_integer_extremes_and_strided_views(device):
    q, N, K, g = 4, 3, 120, 40
    x = torch.full((2, K), -128, dtype=torch.int8)
    packed = torch.zeros((q, N, K // 8), dtype=torch.uint8)  # every sign -1: T[0] = +1024
    scales = torch.full((q, N, K // g), 2**15, dtype=torch.int32)
    got = lut_gemm(x.to(device), packed.to(device), scales.to(device), g).cpu()
    assert torch.equal(got, torch.full((2, N), q * K * 128 * 2**15, dtype=torch.int32))  # 0.94 * 2**31
    # transposed activations, a sliced plane stack and non-contiguous scales are read in place
    xs, ps, ss = _int_case(4, 6, 32, 3, 16, seed=5)
    x_t = xs.T.contiguous().T
    p_big = torch.cat([ps, ps], dim=1)[:, ::2]
    s_t = ss.transpose(1, 2).contiguous().transpose(1, 2)
    assert not (x_t.is_contiguous() or p_big.is_contiguous() or s_t.is_contiguous())
    got = lut_gemm(x_t.to(device), p_big.to(device), s_t.to(device), 16).cpu()
    assert torch.equal(got, lut_gemm_reference(xs, p_big.contiguous(), ss, 16))


# ------------------------------------------------------------------------------- kernel, float path
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act_dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("M,N,K,q,g", [(1, 24, 64, 3, 32), (6, 10, 128, 2, 64)])
def test_kernel_float_path_within_fp32_rounding(device, act_dtype, M, N, K, q, g):
    torch.manual_seed(M + N + q)
    w = torch.randn(N, K)
    bcq = bcq_quantize(w, q, g)
    x = torch.randn(M, K).to(act_dtype)
    got = lut_gemm(x.to(device), bcq.packed.to(device), bcq.scales.to(device), g).cpu()
    want = lut_gemm_reference(x, bcq.packed, bcq.scales, g)
    assert got.dtype == torch.float32
    # fp32 accumulation in another order than the float64 reference: gamma_n with n = K + 16
    w_abs = bcq_dequantize(bcq.packed, bcq.scales.abs().to(torch.float64), g).abs()
    bound = (K + 16) * 2.0**-24 * (x.to(torch.float64).abs() @ w_abs.T)
    assert bool(((got.to(torch.float64) - want.to(torch.float64)).abs() <= bound).all())
    # and the whole thing approximates the unquantised layer (3 planes: ~17% error)
    rel = (got.to(torch.float64) - x.to(torch.float64) @ w.to(torch.float64).T).norm() / (x.double() @ w.double().T).norm()
    assert rel < {2: 0.4, 3: 0.25}[q]


# ------------------------------------------------------------------------------- bad input
XI, PI, SI = _int_case(2, 3, 16, 2, 8, seed=0)


@pytest.mark.parametrize("args,exc,message", [
    ((XI.to(torch.int32), PI, SI, 8), TypeError, r"x must be int8 \(exact path\) or float16/float32 \(float path\), got torch.int32"),
    ((XI[0], PI, SI, 8), ValueError, r"x must be a 2-D \(M, K\) matrix, got shape \(16,\)"),
    ((XI, PI.to(torch.int8), SI, 8), TypeError, r"packed must have dtype torch.uint8 \(8 sign bits per byte\), got torch.int8"),
    ((XI, PI[0], SI, 8), ValueError, r"packed must be 3-D \(q, N, K/8\), got shape \(3, 2\)"),
    ((XI, torch.zeros((5, 3, 2), dtype=torch.uint8), SI, 8), ValueError, r"packed holds q = 5 binary planes; q must be in 1..4"),
    ((XI[:, :12], PI, SI, 8), ValueError, r"K = 12 \(x's columns\) must be a positive multiple of 8"),
    ((XI, PI[:, :, :1], SI, 8), ValueError, r"packed has 1 bytes per row, i.e. K = 8, but x has K = 16 columns"),
    ((XI, PI, SI, 12), ValueError, r"group_size must be a positive multiple of 8"),
    ((XI, PI, SI, 16), ValueError, r"scales must have shape \(q, N, K/group_size\) = \(2, 3, 1\), got \(2, 3, 2\)"),
    ((XI, PI, SI.float(), 8), TypeError, r"int8 x takes the exact path and needs int32 scales, got torch.float32"),
    ((XI.half(), PI, SI, 8), TypeError, r"float x needs float16/float32 scales, got torch.int32"),
    ((XI, PI, SI.numpy(), 8), TypeError, r"scales must be a torch.Tensor, got ndarray"),
    ((XI, PI, torch.full_like(SI, 2**20), 8), ValueError,
     r"int32 overflow possible: q \* K \* 128 \* max\|scale\| = 2 \* 16 \* 128 \* 1048576 = 4294967296 exceeds 2\*\*31-1"),
])
def test_kernel_rejects_bad_input(args, exc, message):
    with pytest.raises(exc, match=message):
        lut_gemm(*args)
    if "overflow" not in message:  # the reference shares the operand checks
        with pytest.raises(exc, match=message):
            lut_gemm_reference(*args)


def test_op_counter():
    ops = count_lut_ops(M=2, N=10, K=64, q=3, group_size=32, act_bytes=2, scale_bytes=2)
    assert ops.table_builds == 2 * 8 and ops.table_writes == 256 * 16
    assert ops.table_build_adds == TABLE_BUILD_ADDS * 16 == 263 * 16
    assert ops.table_reads == ops.accumulate_adds == 2 * 3 * 10 * 8
    assert ops.scale_muls == ops.scale_adds == 2 * 3 * 10 * 2
    assert ops.adds == 263 * 16 + 480 + 120
    assert ops.bytes_moved == 2 * 64 * 2 + 3 * 10 * 8 + 3 * 10 * 2 * 2 + 2 * 10 * 4
    assert ops.dense_equivalent_flops == 2 * 2 * 10 * 64
    with pytest.raises(ValueError, match=r"K = 12 must be a multiple of 8"):
        count_lut_ops(1, 1, 12, 1, 8)
    with pytest.raises(ValueError, match=r"q must be in 1..4, got 0"):
        count_lut_ops(1, 1, 8, 0, 8)


# ------------------------------------------------------------------------------- GPU compile, no GPU
_AOT = textwrap.dedent("""
    import torch
    import bench.sm90 as S
    from kernels.lut_gemm import lut_gemm
    seen = []
    with S.compile_only(lambda fn, compiled, where: seen.append((fn.__name__, compiled))):
        for M, q, dt, g in [(1, 3, torch.int8, 128), (1, 4, torch.float16, 128), (2, 2, torch.float32, 64),
                            (16, 3, torch.int8, 128), (1, 3, torch.float16, 24)]:
            sd = torch.int32 if dt == torch.int8 else torch.float32
            lut_gemm(torch.zeros((M, 1536), dtype=dt), torch.zeros((q, 256, 192), dtype=torch.uint8),
                     torch.zeros((q, 256, 1536 // g), dtype=sd), g, check_range=False)
    ptxas = S._ptxas()
    for name, compiled in seen:
        assert ".entry " + name in compiled.asm["ptx"], name
        assert compiled.metadata.shared <= S.SHARED_LIMIT, (name, compiled.metadata.shared)
        regs, stores, loads = S.ptxas_usage(compiled.asm["ptx"], ptxas)
        assert stores == loads == 0, (name, regs, stores, loads)
    assert {name for name, _ in seen} == {"lut_gemm_kernel", "lut_splitk_reduce_kernel"}
    print("compiled", len(seen))
""")


def test_kernel_compiles_for_hopper_without_a_gpu():
    """The compiled path, checked on a CPU machine: the launcher's own launches (word and byte
    reads, q = 2..4, batch tiles 1, 2, 16, the K-split reduction) compile for sm_90 through
    bench/sm90.py's compile-only mode, within the shared-memory limit and without spills.

    Decode-sized tiles with several planes are the case that once crashed Triton 3.6's
    TritonGPUOptimizeThreadLocality pass (see the kernel's docstring).
    """
    try:
        from triton.backends.compiler import GPUTarget  # noqa: F401
    except ImportError as e:
        pytest.skip(f"this Triton has no ahead-of-time compile API: {e}")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TRITON_INTERPRET="0", BITWEIGHT_COMPILE_ONLY="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-c", _AOT], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "compiled" in r.stdout, r.stderr[-3000:]
