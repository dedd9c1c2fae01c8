"""kernels.fp8_gemm: blockwise and delayed scaling, the Triton FP8 GEMM (interpreter on the CPU,
compiled on a GPU) against the exact emulation, the back-end dispatcher, and every error message.

Tolerances. The emulation adds the exact FP32 products k = 0, 1, ... with one FP32 rounding per
add; the kernel adds the same products in another order (BLAS in the interpreter, wgmma blocks on
a GPU). Each result is within (n * 2**-24) * S of the exact value, where S = sum_k |a_k b_k| *
scales is the magnitude sum and n counts the roundings on a path: K - 1 additions, two scale
multiplies, and per 128-block two scale multiplies and one add for blockwise (first order of
the gamma_n bound). So |triton - emulated| <= 2 * (K + 2 * K/128 + 4) * 2**-24 * S, the bound
``fp32_bound`` computes from the operands; bf16 outputs add one bf16 rounding on each side
(2**-8 relative each). Where every partial sum is representable (small integer-valued fp8
operands, power-of-two scales), any order gives the same bits, and the tests demand equality.
On a GPU the tensor cores' reduced-precision accumulation between FP32 promotions adds a stated
allowance (``kernel_bound``), and the exact cases keep every 128-deep sum small enough for it.
"""

import numpy as np
import pytest
import torch

from kernels import fp8_gemm as fg
from kernels._triton_env import TRITON_INTERPRET, tl, triton
from kernels.fp8 import FP8_DTYPES, tensorwise_scale
from kernels.fp8_gemm import (
    GRANULARITIES,
    SCALE_BLOCK,
    DelayedScaling,
    blockwise_scale,
    count_fp8_gemm_ops,
    fp8_gemm,
    fp8_gemm_emulated,
    quantize_fp8_blockwise,
    quantize_operands,
    resolve_backend,
    scaled_mm,
)

HAS_CUDA = torch.cuda.is_available()
DEV = "cuda" if HAS_CUDA else "cpu"  # the Triton kernel's device: interpreter on CPU, compiled on CUDA
E4, E5 = torch.float8_e4m3fn, torch.float8_e5m2


def randn(shape, seed, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(device)


def abs_sum(qa, qb, sa, sb, granularity):
    """S = sum_k |a_k b_k| times the scales each product is multiplied by, in float64."""
    af, bf = qa.double().abs(), qb.double().abs()
    if granularity != "blockwise":
        return (af @ bf) * sa.double().abs() * sb.double().abs()
    N = qb.shape[1]
    sbc = sb.double().repeat_interleave(SCALE_BLOCK, dim=1)[:, :N]
    total = torch.zeros(qa.shape[0], N, dtype=torch.float64, device=qa.device)
    for kb, k0 in enumerate(range(0, qa.shape[1], SCALE_BLOCK)):
        blk = af[:, k0:k0 + SCALE_BLOCK] @ bf[k0:k0 + SCALE_BLOCK]
        total += blk * sa.double()[:, kb:kb + 1] * sbc[kb:kb + 1]
    return total


def fp32_bound(qa, qb, sa, sb, granularity):
    K = qa.shape[1]
    n = K + 2 * (-(-K // SCALE_BLOCK)) + 4
    return 2 * n * 2.0**-24 * abs_sum(qa, qb, sa, sb, granularity)


def kernel_bound(qa, qb, sa, sb, granularity, fast=False):
    """fp32_bound, plus on a GPU the tensor cores' share: Hopper's fp8 tensor cores keep reduced
    precision while they accumulate (DeepSeek-V3 measures ~14 bits). Both GPU kernels promote to
    FP32 at least every 128 products (Triton via max_num_imprecise_acc=128, cuBLAS with
    use_fast_accum=False at its own interval), each adding at most ~2**-14 * S; 2**-12 * S covers
    either side with room. With fast_accum the whole K loop stays in the tensor core: 2**-10 * S."""
    extra = 0.0 if qa.device.type == "cpu" else (2.0**-10 if fast else 2.0**-12)
    return fp32_bound(qa, qb, sa, sb, granularity) + extra * abs_sum(qa, qb, sa, sb, granularity)


def exact_reference(qa, qb, sa, sb, granularity):
    """(a * scale_a) @ (b * scale_b) in float64 (every product exact, sums nearly so)."""
    af, bf = qa.double(), qb.double()
    if granularity != "blockwise":
        return (af @ bf) * sa.double() * sb.double()
    sa_full = sa.double().repeat_interleave(SCALE_BLOCK, dim=1)[:, : qa.shape[1]]
    sb_full = sb.double().repeat_interleave(SCALE_BLOCK, 0).repeat_interleave(SCALE_BLOCK, 1)
    sb_full = sb_full[: qb.shape[0], : qb.shape[1]]
    return (af * sa_full) @ (bf * sb_full)


def operands(M, N, K, granularity, fa="e4m3", fb="e4m3", seed=0, device="cpu"):
    a, b = randn((M, K), seed, device), randn((K, N), seed + 1, device)
    a[:, :3] *= 40.0  # outlier columns: rowwise and blockwise scales differ from tensorwise
    return quantize_operands(a, b, granularity, fa, fb)


# ---------------------------------------------------------------------------------- the interpreter and fp8
@pytest.mark.skipif(not TRITON_INTERPRET, reason="documents the Triton interpreter's fp8 handling")
@pytest.mark.parametrize("dtype", [E4, E5], ids=["e4m3", "e5m2"])
def test_interpreter_decodes_finite_fp8_codes_exactly_and_specials_wrongly(dtype):
    # Why the launcher rejects NaN / Inf codes (kernels/fp8_gemm.py docstring): the interpreter
    # decodes every finite code exactly but the special ones as if the format had none.
    @triton.jit
    def decode(x_ptr, y_ptr, N: tl.constexpr):
        o = tl.arange(0, N)
        tl.store(y_ptr + o, tl.load(x_ptr + o).to(tl.float32))

    x = torch.arange(256, dtype=torch.uint8).view(dtype)
    y = torch.empty(256)
    decode[(1,)](x, y, N=256)
    ref = x.float()
    finite = torch.isfinite(ref)
    assert torch.equal(y[finite], ref[finite])
    assert torch.isfinite(y[~finite]).all()  # e4m3 NaN -> 480, e5m2 Inf -> 65536, NaN -> 81920...
    assert y[~finite].abs().min().item() > (448.0 if dtype == E4 else 57344.0)


@pytest.mark.skipif(not TRITON_INTERPRET, reason="documents the Triton interpreter's bf16 cast")
def test_interpreter_bf16_cast_truncates_so_the_launcher_rounds_on_the_host():
    @triton.jit
    def cast(x_ptr, y_ptr, N: tl.constexpr):
        o = tl.arange(0, N)
        tl.store(y_ptr + o, tl.load(x_ptr + o).to(tl.bfloat16, fp_downcast_rounding="rtne"))

    x = torch.tensor([1.0 + 3 * 2.0**-9, -(1.0 + 3 * 2.0**-9)])  # nearest bf16: +-(1 + 2**-7)
    y = torch.empty(2, dtype=torch.bfloat16)
    cast[(1,)](x, y, N=2)
    assert y.float().tolist() == [1.0, -1.0]  # truncated; torch (and the GPU) round to +-(1 + 2**-7)
    assert x.to(torch.bfloat16).float().tolist() == [1.0 + 2.0**-7, -(1.0 + 2.0**-7)]


# ---------------------------------------------------------------------------------- blockwise scales
def test_blockwise_scale_values_shapes_and_partial_blocks():
    x = randn((130, 300), 3)
    x[129, 299] = 1000.0  # alone in the last (partial) block of both layouts
    s1 = blockwise_scale(x, (1, 128))
    s2 = blockwise_scale(x, (128, 128), "e5m2")
    assert s1.shape == (130, 3) and s2.shape == (2, 3) and s1.dtype == s2.dtype == torch.float32
    for r in range(130):
        for c in range(3):
            assert s1[r, c].item() == np.float32(x[r, 128 * c:128 * (c + 1)].abs().max().item() / 448.0)
    for r in range(2):
        for c in range(3):
            blk = x[128 * r:128 * (r + 1), 128 * c:128 * (c + 1)]
            assert s2[r, c].item() == np.float32(blk.abs().max().item() / 57344.0)
    assert s1[129, 2].item() == np.float32(1000.0 / 448.0)


@pytest.mark.parametrize("block", [(1, 128), (128, 128)])
def test_quantize_blockwise_maps_each_block_amax_to_fp8_max(block):
    x = randn((200, 260), 4) * torch.logspace(-3, 3, 260)  # columns of very different magnitude
    q, s = quantize_fp8_blockwise(x, block)
    assert q.dtype == E4
    full = s.repeat_interleave(block[0], 0).repeat_interleave(block[1], 1)[:200, :260]
    deq = q.float() * full
    # each block's amax element lands on +-448 exactly (amax / (amax/448) rounds to 448)
    assert torch.equal(fg._block_amax(q.float(), block), torch.full_like(s, 448.0))
    normal = x.abs() >= full * 2.0**-6  # e4m3 normal range: relative error <= 2**-4
    rel = (deq - x).abs() / x.abs()
    assert rel[normal].max().item() <= 2.0**-4


def test_blockwise_beats_tensorwise_on_outlier_columns():
    a = randn((64, 256), 5)
    a[:, 7] *= 1e5  # tensorwise: the other columns fall to e4m3 subnormals (2**-9 steps)
    qt, st = fg.fp8_saturating(a / tensorwise_scale(a), "e4m3"), tensorwise_scale(a)
    qb, sb = quantize_fp8_blockwise(a, (1, 128))
    err_t = (qt.float() * st - a)[:, 128:].abs().mean()
    err_b = (qb.float() * sb.repeat_interleave(128, 1) - a)[:, 128:].abs().mean()
    assert err_b < err_t / 10  # the block without the outlier keeps its own, finer scale


def test_blockwise_eps_clamps_all_zero_blocks():
    x = torch.zeros(2, 256)
    x[0, 0] = 448.0
    s = blockwise_scale(x, (1, 128), eps=1e-4)
    assert s.flatten().tolist() == [1.0, np.float32(1e-4 / 448), np.float32(1e-4 / 448), np.float32(1e-4 / 448)]


@pytest.mark.parametrize("call,exc,message", [
    (lambda: blockwise_scale(torch.zeros(2, 256)), ValueError,
     r"blockwise amax is 0 \(first at block \(0, 0\)\): an all-zero block has no scale; pass eps="),
    (lambda: blockwise_scale(torch.cat([torch.ones(1, 128), torch.zeros(1, 128)], 1)), ValueError,
     r"blockwise amax is 0 \(first at block \(0, 1\)\)"),
    (lambda: blockwise_scale(torch.tensor([[1.0] * 129 + [float("nan")]]), (1, 128)), ValueError,
     r"blockwise amax is NaN or Inf \(first at block \(0, 1\)\)"),
    (lambda: blockwise_scale(torch.full((2, 4), float("inf")), (128, 128)), ValueError,
     r"blockwise amax is NaN or Inf \(first at block \(0, 0\)\)"),
    (lambda: blockwise_scale(torch.ones(4, 4), (64, 64)), ValueError,
     r"block must be \(1, 128\) or \(128, 128\), got \(64, 64\)"),
    (lambda: blockwise_scale(torch.ones(4, 4), 128), ValueError, r"block must be \(1, 128\) or \(128, 128\), got 128"),
    (lambda: blockwise_scale(torch.ones(4), (1, 128)), ValueError,
     r"x must be a non-empty 2-D matrix, got shape \(4,\)"),
    (lambda: blockwise_scale(torch.ones(4, 4, dtype=torch.int32)), TypeError, r"x must be a float32, float16"),
    (lambda: blockwise_scale(torch.ones(4, 4), fmt="e2m1"), ValueError, r"fmt must be 'e4m3', 'e5m2'"),
    (lambda: blockwise_scale(torch.ones(4, 4), eps=0.0), ValueError, r"eps must be a positive finite float or None"),
    (lambda: quantize_operands(torch.ones(4, 4), torch.ones(4, 4), "columnwise"), ValueError,
     r"granularity must be 'tensorwise', 'rowwise' or 'blockwise', got 'columnwise'"),
])
def test_scaling_rejects_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ---------------------------------------------------------------------------------- delayed scaling
def test_delayed_scaling_first_step_history_and_ring():
    ds = DelayedScaling(history_len=3)
    assert ds.scale is None and ds.steps == 0
    x0 = torch.tensor([1.0, -224.0])
    q, s = ds.quantize(x0)
    assert s.item() == tensorwise_scale(x0).item() == 0.5  # first step: the tensor's own amax
    assert q.float().tolist() == [2.0, -448.0]
    assert ds.amax_history.tolist() == [224.0, 0.0, 0.0] and ds.scale.item() == 0.5 and ds.steps == 1
    q, s = ds.quantize(torch.tensor([896.0]))  # a spike: quantised with the old scale, saturates
    assert s.item() == 0.5 and q.float().item() == 448.0 and ds.last_saturated == 1
    assert ds.scale.item() == 2.0  # the next step's scale follows the spike
    ds.quantize(torch.tensor([44.8]))
    assert ds.amax_history.tolist() == [np.float32(44.8), 896.0, 224.0] and ds.scale.item() == 2.0
    ds.quantize(torch.tensor([44.8]))
    ds.quantize(torch.tensor([44.8]))  # the spike has left the ring of three
    assert ds.amax_history.tolist() == [np.float32(44.8)] * 3
    assert ds.scale.item() == np.float32(np.float32(44.8) / np.float32(448.0))
    st = ds.state()
    assert st["steps"] == 5 and st["history_len"] == 3 and st["last_saturated"] == 0


def test_delayed_scaling_margin_zero_steps_and_nan_keeps_state():
    ds = DelayedScaling(history_len=2, fmt="e5m2", margin=1)
    _, s = ds.quantize(torch.tensor([57344.0]))
    assert s.item() == 2.0  # amax * 2**margin / 57344
    ds.quantize(torch.zeros(3))
    ds.quantize(torch.zeros(3))  # history all zero: the previous scale is kept
    assert ds.amax_history.tolist() == [0.0, 0.0] and ds.scale.item() == 2.0
    before = ds.state()
    with pytest.raises(ValueError, match=r"x holds NaN or Inf \(step 3\): amax is nan, the history is left unchanged"):
        ds.quantize(torch.tensor([1.0, float("nan")]))
    after = ds.state()
    assert after["steps"] == before["steps"] and torch.equal(after["amax_history"], before["amax_history"])


@pytest.mark.parametrize("call,exc,message", [
    (lambda: DelayedScaling(0), ValueError, r"history_len must be an int >= 1, got 0"),
    (lambda: DelayedScaling(True), ValueError, r"history_len must be an int >= 1, got True"),
    (lambda: DelayedScaling(4, margin=-1), ValueError, r"margin must be an int >= 0"),
    (lambda: DelayedScaling(4, fmt="int8"), ValueError, r"fmt must be 'e4m3', 'e5m2'"),
    (lambda: DelayedScaling(4).quantize(torch.zeros(3)), ValueError, r"the first tensor is all zero"),
    (lambda: DelayedScaling(4).quantize(torch.ones(3, dtype=torch.int8)), TypeError, r"x must be a float32"),
    (lambda: DelayedScaling(4).quantize([1.0]), TypeError, r"x must be a torch.Tensor, got list"),
    (lambda: DelayedScaling(4).quantize(torch.ones(0)), ValueError, r"x is empty"),
    (lambda: DelayedScaling(4).update(float("inf")), ValueError, r"amax must be finite and >= 0, got inf"),
])
def test_delayed_scaling_rejects_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


# ---------------------------------------------------------------------------------- the GEMM: emulation
def test_emulation_blockwise_is_the_documented_block_order():
    qa, qb, sa, sb = operands(3, 5, 300, "blockwise", seed=7)
    got = fp8_gemm_emulated(qa, qb, sa, sb, granularity="blockwise", out_dtype=torch.float32)
    af, bf = qa.float().numpy(), qb.float().numpy()
    want = np.zeros((3, 5), np.float32)
    for kb, k0 in enumerate(range(0, 300, 128)):
        part = np.zeros((3, 5), np.float32)
        for k in range(k0, min(k0 + 128, 300)):
            part = (part + np.outer(af[:, k], bf[k])).astype(np.float32)
        sbn = sb.numpy()[kb, np.arange(5) // 128]
        want = (want + (part * sa.numpy()[:, kb:kb + 1]).astype(np.float32) * sbn).astype(np.float32)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("granularity", ["tensorwise", "rowwise"])
def test_emulation_matches_kernels_fp8_emulation_bit_for_bit(granularity):
    from kernels.fp8 import scaled_fp8_gemm_emulated

    qa, qb, sa, sb = operands(6, 7, 50, granularity, seed=2)
    bias = randn((7,), 9)
    got = fp8_gemm_emulated(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32, bias=bias)
    assert torch.equal(got, scaled_fp8_gemm_emulated(qa, qb, sa, sb) + bias)


# ---------------------------------------------------------------------------------- the GEMM: Triton vs emulation
SHAPES = [(20, 40, 256), (33, 70, 200), (5, 3, 7), (1, 129, 384)]


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("M,N,K", SHAPES, ids=lambda v: str(v))
def test_triton_matches_emulation_within_fp32_bound(granularity, M, N, K):
    qa, qb, sa, sb = operands(M, N, K, granularity, seed=M + N + K, device=DEV)
    got = fp8_gemm(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32).double()
    emu = fp8_gemm_emulated(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32).double()
    bound = kernel_bound(qa, qb, sa, sb, granularity)
    assert ((got - emu).abs() <= bound).all()
    exact = exact_reference(qa, qb, sa, sb, granularity)
    assert ((got - exact).abs() <= bound).all() and ((emu - exact).abs() <= bound).all()


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("M,N,K", [(20, 40, 256), (33, 70, 208), (1, 129, 384)], ids=str)
def test_tma_kernel_matches_emulation_and_the_pointer_kernel(granularity, M, N, K):
    # K = 208: a partial last K tile, which the descriptors fill with zeros (no masks)
    qa, qb, sa, sb = operands(M, N, K, granularity, seed=3 * M + K, device=DEV)
    qb = col_major(qb)
    got = fp8_gemm(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32, tma=True)
    emu = fp8_gemm_emulated(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32)
    assert ((got.double() - emu.double()).abs() <= kernel_bound(qa, qb, sa, sb, granularity)).all()
    if TRITON_INTERPRET:  # same tiles, same dot order in the interpreter: the same bits
        assert torch.equal(got, fp8_gemm(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32))


#: fp8_gemm's kernels, by the flags that select them
KERNELS = {"pointer": {}, "tma": {"tma": True}, "persistent": {"tma": True, "persistent": True}}


@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("M,N,K", [(20, 40, 256), (33, 70, 208), (1, 129, 384), (50, 100, 256)], ids=str)
@pytest.mark.parametrize("programs", [1, 3, 64])
def test_persistent_kernel_equals_the_tma_kernel_bit_for_bit(monkeypatch, granularity, M, N, K, programs):
    # Each tile is computed as in the TMA kernel (same loads, same dots in the same order); only
    # which program computes it changes: 1 program loops over every tile, 3 over several each,
    # 64 is more programs than tiles (the grid is min(programs, tiles)).
    monkeypatch.setattr(fg, "INTERPRETER_NUM_SMS", programs)
    qa, qb, sa, sb = operands(M, N, K, granularity, seed=5 * M + K, device=DEV)
    qb = col_major(qb)
    bias = randn((N,), 13, DEV)
    got = fp8_gemm(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32, bias=bias, tma=True,
                   persistent=True)
    want = fp8_gemm(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32, bias=bias, tma=True)
    emu = fp8_gemm_emulated(qa, qb, sa, sb, granularity=granularity, out_dtype=torch.float32, bias=bias)
    assert ((got.double() - emu.double()).abs() <= kernel_bound(qa, qb, sa, sb, granularity) + 1e-6).all()
    if TRITON_INTERPRET:
        assert torch.equal(got, want)


@pytest.mark.parametrize("fa,fb", [("e4m3", "e5m2"), ("e5m2", "e4m3"), ("e5m2", "e5m2")])
@pytest.mark.parametrize("granularity", GRANULARITIES)
def test_triton_mixed_formats_and_bf16_output(fa, fb, granularity):
    qa, qb, sa, sb = operands(17, 48, 160, granularity, fa, fb, seed=11, device=DEV)
    assert qa.dtype == FP8_DTYPES[fa] and qb.dtype == FP8_DTYPES[fb]
    bias = randn((48,), 12, DEV).to(torch.bfloat16)
    got = fp8_gemm(qa, qb, sa, sb, granularity=granularity, bias=bias)
    emu = fp8_gemm_emulated(qa, qb, sa, sb, granularity=granularity, bias=bias)
    assert got.dtype == emu.dtype == torch.bfloat16
    # the fp32 values differ by <= bound; each side then rounds once to bf16 (<= 2**-8 relative)
    tol = kernel_bound(qa, qb, sa, sb, granularity) + 2.0**-7 * emu.double().abs() + 1e-30
    assert ((got.double() - emu.double()).abs() <= tol).all()


def integer_operands(M, N, K, granularity, seed, device, lim=16):
    """fp8 codes of integers in [-lim, lim] (exact in e4m3 for lim <= 16) and power-of-two scales
    (2**-2 .. 2): every FP32 partial sum (|sum| <= K * 256 * 4 <= 2**21 for K <= 512, on a grid of
    2**-4) is representable, so any FP32 order is exact. lim = 4 keeps each 128-deep sum within
    2**11, exact also in a GPU tensor core's ~14-bit accumulator (kernel_bound)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(-lim, lim + 1, (M, K), generator=g).float().to(E4)
    b = torch.randint(-lim, lim + 1, (K, N), generator=g).float().to(E4)
    sa_shape, sb_shape = fg._scale_shapes(granularity, M, N, K)
    sa = (2.0 ** torch.randint(-2, 2, sa_shape, generator=g)).float()
    sb = (2.0 ** torch.randint(-2, 2, sb_shape, generator=g)).float()
    bias = torch.randint(-50, 50, (N,), generator=g).float()
    return a.to(device), b.to(device), sa.to(device), sb.to(device), bias.to(device)


def col_major(x):
    return x.t().contiguous().t()


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("granularity", GRANULARITIES)
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_triton_is_exact_where_every_partial_sum_is_representable(granularity, out_dtype, kernel):
    a, b, sa, sb, bias = integer_operands(24, 160, 384, granularity, seed=21, device=DEV, lim=4)
    b = col_major(b)  # the TMA kernels' layout; the pointer kernel takes it as well
    got = fp8_gemm(a, b, sa, sb, granularity=granularity, out_dtype=out_dtype, bias=bias, **KERNELS[kernel])
    emu = fp8_gemm_emulated(a, b, sa, sb, granularity=granularity, out_dtype=out_dtype, bias=bias)
    exact = (exact_reference(a, b, sa, sb, granularity) + bias.double()).to(out_dtype)
    assert torch.equal(got, emu) and torch.equal(emu, exact)


@pytest.mark.skipif(not TRITON_INTERPRET, reason="sets the interpreter's tile")
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("block_n", [256, 64], ids=["tile-spans-two-scale-blocks", "tile-inside-one-block"])
def test_blockwise_scale_b_lookup_per_column_and_per_tile(monkeypatch, block_n, kernel):
    # BLOCK_N = 256 covers two 128-column scale blocks of b (the per-column lookup); 64 lies
    # inside one (the scalar lookup). N = 300: a partial third block.
    monkeypatch.setitem(fg.INTERPRETER_CONFIG, "BLOCK_N", block_n)
    a, b, sa, sb, bias = integer_operands(8, 300, 256, "blockwise", seed=31, device="cpu", lim=4)
    assert sb.shape == (2, 3) and len(set(sb.flatten().tolist())) > 1
    got = fp8_gemm(a, col_major(b), sa, sb, granularity="blockwise", out_dtype=torch.float32, bias=bias,
                   **KERNELS[kernel])
    exact = (exact_reference(a, b, sa, sb, "blockwise") + bias.double()).float()
    assert torch.equal(got, exact)


def test_tma_rejects_other_layouts():
    a, b, sa, sb, _ = integer_operands(16, 32, 128, "tensorwise", seed=2, device=DEV)
    with pytest.raises(ValueError, match=r"tma=True needs a row-major a and a column-major b .* got a strides "
                                         r"\(128, 1\), b strides \(32, 1\); use tma=False"):
        fp8_gemm(a, b, sa, sb, tma=True)
    with pytest.raises(ValueError, match=r"tma=True needs a row-major a"):
        fp8_gemm(col_major(a), col_major(b), sa, sb, tma=True)
    a2, b2, sa2, sb2, _ = integer_operands(16, 32, 24, "tensorwise", seed=2, device=DEV)  # rows of 24 bytes
    with pytest.raises(ValueError, match=r"got a strides \(24, 1\), b strides \(1, 24\)"):
        fp8_gemm(a2, col_major(b2), sa2, sb2, tma=True)
    with pytest.raises(TypeError, match=r"tma must be a bool, got int"):
        fp8_gemm(a, b, sa, sb, tma=1)
    with pytest.raises(TypeError, match=r"persistent must be a bool, got str"):
        fp8_gemm(a, col_major(b), sa, sb, tma=True, persistent="yes")
    with pytest.raises(ValueError, match=r"persistent=True needs tma=True: the persistent kernel loads its tiles "
                                         r"through TMA descriptors"):
        fp8_gemm(a, col_major(b), sa, sb, persistent=True)
    with pytest.raises(ValueError, match=r"tma=True needs a row-major a and a column-major b"):
        fp8_gemm(a, b, sa, sb, tma=True, persistent=True)


def test_triton_reads_strided_operands_in_place():
    a, b, sa, sb, _ = integer_operands(16, 48, 256, "rowwise", seed=5, device=DEV, lim=4)
    want = fp8_gemm_emulated(a, b, sa, sb, granularity="rowwise", out_dtype=torch.float32)
    a_col, b_col = a.t().contiguous().t(), b.t().contiguous().t()  # column-major: b as w.t()
    assert torch.equal(fp8_gemm(a_col, b_col, sa, sb, granularity="rowwise", out_dtype=torch.float32), want)
    sa_t, sb_t = sa.t().contiguous().t(), sb.t().contiguous().t()
    assert torch.equal(fp8_gemm(a, b, sa_t, sb_t, granularity="rowwise", out_dtype=torch.float32), want)


def test_empty_m_returns_empty():
    a, b = torch.zeros(0, 32, device=DEV).to(E4), torch.ones(32, 16, device=DEV).to(E4)
    one = torch.tensor(1.0, device=DEV)
    assert fp8_gemm(a, b, one, one).shape == (0, 16)


# ---------------------------------------------------------------------------------- the dispatcher
def test_dispatcher_routes_to_the_named_backend():
    a, b, sa, sb, bias = integer_operands(8, 16, 128, "tensorwise", seed=3, device="cpu")
    emu = fp8_gemm_emulated(a, b, sa, sb, bias=bias)
    assert resolve_backend("auto", "cpu") == "emulated" and resolve_backend("auto", "cuda:0") == "scaled_mm"
    assert torch.equal(scaled_mm(a, b, sa, sb, bias=bias), emu)  # auto on cpu
    assert torch.equal(scaled_mm(a, b, sa, sb, backend="emulated", bias=bias), emu)
    if TRITON_INTERPRET:
        assert torch.equal(scaled_mm(a, b, sa, sb, backend="triton", bias=bias), emu)
        # fast_accum only changes the GPU tensor cores' accumulation; the interpreter's is FP32 anyway
        assert torch.equal(scaled_mm(a, b, sa, sb, backend="triton", bias=bias, fast_accum=True), emu)
    with pytest.raises(ValueError, match=r"backend='scaled_mm' \(tensorwise.*torch._scaled_mm runs on CUDA only, "
                                         r"the operands are on cpu; use backend='emulated'"):
        scaled_mm(a, b, sa, sb, backend="scaled_mm")
    with pytest.raises(ValueError,
                       match=r"backend must be one of 'auto', 'scaled_mm', 'triton', 'emulated', got 'cublas'"):
        scaled_mm(a, b, sa, sb, backend="cublas")


def test_scaled_mm_backend_layout_and_combination_checks():
    # torch._scaled_mm's rules, checked before the call: on CPU tensors here (the check reads
    # only strides, sizes and dtypes), so the messages are pinned without a GPU.
    a, b, _, _, _ = integer_operands(32, 32, 128, "rowwise", seed=4, device="cpu")
    b_col = b.t().contiguous().t()

    def run(a_, b_, gran="rowwise", out=torch.bfloat16, bias=None, k=128, n=32):
        fg._check_scaled_mm_combination(a_, b_, gran, out, bias, k, n)

    run(a, b_col)  # the supported case passes
    run(a, b_col, gran="tensorwise", out=torch.float32)
    with pytest.raises(ValueError, match=r"torch._scaled_mm needs a row-major, got strides \(1, 32\)"):
        run(a.t().contiguous().t(), b_col)
    with pytest.raises(ValueError, match=r"torch._scaled_mm needs b column-major, got strides \(32, 1\); pass "
                                         r"b.t\(\).contiguous\(\).t\(\)"):
        run(a, b)
    with pytest.raises(ValueError, match=r"K and N to be multiples of 16, got K = 120, N = 32"):
        run(a, b_col, k=120)
    with pytest.raises(ValueError, match=r"e5m2 x e5m2 is not a cuBLAS fp8 combination"):
        run(a.float().to(E5), b_col.float().to(E5).t().contiguous().t(), gran="tensorwise")
    with pytest.raises(ValueError, match=r"takes rowwise scales with e4m3 operands only"):
        run(a.float().to(E5), b_col)
    with pytest.raises(ValueError, match=r"gives rowwise results in bf16 only, got out_dtype torch.float32"):
        run(a, b_col, out=torch.float32)
    with pytest.raises(ValueError, match=r"adds a bias only as bf16 into a bf16 output, got bias torch.float32"):
        run(a, b_col, bias=torch.zeros(32))
    with pytest.raises(ValueError, match=r"blockwise scales only for K and N multiples of 128, got K = 128, N = 32"):
        run(a, b_col, gran="blockwise")


# ---------------------------------------------------------------------------------- bad input
def _ok():
    a, b, sa, sb, _ = integer_operands(4, 16, 32, "tensorwise", seed=1, device="cpu")
    return a, b, sa, sb


NAN_A = torch.tensor([[1.0, 2.0]]).to(E4).view(torch.uint8)
NAN_A[0, 1] = 0x7F


@pytest.mark.parametrize("fn", [fp8_gemm, fp8_gemm_emulated], ids=["triton", "emulated"])
@pytest.mark.parametrize("call,exc,message", [
    (lambda f, a, b, sa, sb: f(a.float(), b, sa, sb), TypeError,
     r"a must be torch.float8_e4m3fn or torch.float8_e5m2, got torch.float32"),
    (lambda f, a, b, sa, sb: f(a, b.view(torch.uint8), sa, sb), TypeError, r"b must be torch.float8_e4m3fn"),
    (lambda f, a, b, sa, sb: f(a, "b", sa, sb), TypeError, r"b must be a torch.Tensor, got str"),
    (lambda f, a, b, sa, sb: f(a[0], b, sa, sb), ValueError, r"a must be a 2-D matrix, got shape \(32,\)"),
    (lambda f, a, b, sa, sb: f(a, a, sa, sb), ValueError,
     r"inner dimensions must match: a is \(M, K\) = \(4, 32\) but b is \(K, N\) = \(4, 32\)"),
    (lambda f, a, b, sa, sb: f(a[:, :0], b[:0], sa, sb), ValueError, r"K = 0: a and b have no inner dimension"),
    (lambda f, a, b, sa, sb: f(a, b, sa.double(), sb), TypeError,
     r"scale_a must be a float32 tensor, got torch.float64"),
    (lambda f, a, b, sa, sb: f(a, b, 1.0, sb), TypeError, r"scale_a must be a float32 tensor, got float"),
    (lambda f, a, b, sa, sb: f(a, b, sa, sb, granularity="rowwise"), ValueError,
     r"scale_a must have shape \(4, 1\) for rowwise scaling of a \(4, 32\) x \(32, 16\) GEMM, got \(\)"),
    (lambda f, a, b, sa, sb: f(a, b, torch.ones(4, 1), torch.ones(16, 1), granularity="rowwise"), ValueError,
     r"scale_b must have shape \(1, 16\) for rowwise scaling"),
    (lambda f, a, b, sa, sb: f(a, b, torch.ones(4, 1), torch.ones(1, 16), granularity="blockwise"), ValueError,
     r"scale_b must have shape \(1, 1\) for blockwise scaling of a \(4, 32\) x \(32, 16\) GEMM, got \(1, 16\)"),
    (lambda f, a, b, sa, sb: f(a, b, sa, sb, granularity="block"), ValueError,
     r"granularity must be 'tensorwise', 'rowwise' or 'blockwise', got 'block'"),
    (lambda f, a, b, sa, sb: f(a, b, sa, sb, out_dtype=torch.float16), TypeError,
     r"out_dtype must be torch.bfloat16 or torch.float32, got torch.float16"),
    (lambda f, a, b, sa, sb: f(a, b, torch.tensor(0.0), sb), ValueError,
     r"scale_a must be positive and finite, got 0.0 at index \(\): a zero, negative, NaN or Inf scale has no meaning"),
    (lambda f, a, b, sa, sb: f(a, b, sa, torch.tensor(float("nan"))), ValueError,
     r"scale_b must be positive and finite, got nan"),
    (lambda f, a, b, sa, sb: f(a, b, torch.tensor([[1.0], [1.0], [-2.0], [1.0]]), torch.ones(1, 16),
                               granularity="rowwise"), ValueError,
     r"scale_a must be positive and finite, got -2.0 at index \(2, 0\)"),
    (lambda f, a, b, sa, sb: f(NAN_A.view(E4), b[:2], sa, sb), ValueError,
     r"a holds NaN or Inf fp8 codes \(first at \(0, 1\)\)"),
    (lambda f, a, b, sa, sb: f(a, torch.full((32, 16), float("inf")).to(E5), sa, sb), ValueError,
     r"b holds NaN or Inf fp8 codes \(first at \(0, 0\)\)"),
    (lambda f, a, b, sa, sb: f(a, b, sa, sb, bias=torch.zeros(16, dtype=torch.float16)), TypeError,
     r"bias must be a bfloat16 or float32 tensor, got torch.float16"),
    (lambda f, a, b, sa, sb: f(a, b, sa, sb, bias=torch.zeros(4)), ValueError,
     r"bias must have shape \(N,\) = \(16,\), got \(4,\)"),
])
def test_gemm_rejects_bad_input(fn, call, exc, message):
    a, b, sa, sb = _ok()
    with pytest.raises(exc, match=message):
        call(fn, a, b, sa, sb)


def test_check_values_false_skips_the_host_read_back():
    # the caller's promise instead of a device sync: a zero scale is then simply applied
    a, b, _, sb = _ok()
    out = fp8_gemm_emulated(a, b, torch.tensor(0.0), sb, check_values=False, out_dtype=torch.float32)
    assert torch.equal(out, torch.zeros(4, 16))
    with pytest.raises(ValueError, match=r"scale_a must be positive and finite"):
        fp8_gemm_emulated(a, b, torch.tensor(0.0), sb)


def test_devices_are_checked():
    _, b, sa, sb = _ok()
    meta = torch.empty(4, 32, device="meta", dtype=E4)
    with pytest.raises(ValueError, match=r"a and b must be on the same device, got a on meta and b on cpu"):
        fp8_gemm(meta, b, sa, sb)
    a, b, sa, sb = _ok()
    with pytest.raises(ValueError, match=r"scale_b must be on the operands' device cpu, got meta"):
        fp8_gemm(a, b, sa, torch.empty((), device="meta"))
    with pytest.raises(ValueError, match=r"bias must be on the operands' device cpu, got meta"):
        fp8_gemm_emulated(a, b, sa, sb, bias=torch.empty(16, device="meta"))


# ---------------------------------------------------------------------------------- counts and configs
def test_count_ops():
    ops = count_fp8_gemm_ops(256, 384, 300, "blockwise", torch.float32)
    assert ops.macs == 256 * 384 * 300 and ops.flops == 2 * ops.macs
    assert ops.scale_muls == 2 * 256 * 384 * 3
    assert ops.bytes_moved == 256 * 300 + 300 * 384 + 4 * 256 * 384 + 4 * (256 * 3 + 3 * 3)
    assert count_fp8_gemm_ops(2, 3, 4).bytes_moved == 8 + 12 + 12 + 8
    with pytest.raises(ValueError, match=r"^K must be a non-negative int, got -1$"):
        count_fp8_gemm_ops(2, 3, -1)


def test_gpu_configs_fit_hopper():
    # Met only by the autotuner on a GPU, so checked here: every config keeps one scale block per
    # K step, is a wgmma-sized tile, fits 228 KB of shared memory with its stages, and pruning
    # gives every variant its own non-empty list (64-row tiles only for skinny M).
    configs = fg._gpu_configs()
    for c in configs:
        bm, bn, bk = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]
        assert bk == SCALE_BLOCK and bm >= 64 and bn >= 64
        assert c.num_stages * (bm * bk + bk * bn) <= 228 * 1024
    assert fg.INTERPRETER_CONFIG["BLOCK_K"] == fg.SMALL_GPU_CONFIG["BLOCK_K"] == SCALE_BLOCK
    variants = ((0, True, "fast"), (1, False, "precise"), (2, False, "blockwise"), (2, True, "blockwise"))
    for gran, fast, variant in variants:
        kept = fg._prune_configs(configs, {"M": 4096}, GRAN=gran, FAST_ACCUM=fast)
        assert sorted(map(fg._tile, kept)) == sorted(fg._VARIANT_TILES[variant])
        skinny = fg._prune_configs(configs, {"M": 16}, GRAN=gran, FAST_ACCUM=fast)
        assert skinny and all(c.kwargs["BLOCK_M"] == 64 for c in skinny)
    # the TMA kernel's configs carry the pre-hook that sizes its descriptors' tiles to the config
    from triton.tools.tensor_descriptor import TensorDescriptor

    tma_configs = fg.fp8_gemm_tma_kernel_autotuned.configs
    assert sorted(map(fg._tile, tma_configs)) == sorted(map(fg._tile, configs))
    x = torch.zeros(256, 256, dtype=E4)
    for c in tma_configs:
        nargs = {"a_desc": TensorDescriptor.from_tensor(x, [64, 128]),
                 "bt_desc": TensorDescriptor.from_tensor(x, [64, 128]), **c.all_kwargs()}
        c.pre_hook(nargs)
        assert nargs["a_desc"].block_shape == [c.kwargs["BLOCK_M"], SCALE_BLOCK]
        assert nargs["bt_desc"].block_shape == [c.kwargs["BLOCK_N"], SCALE_BLOCK]
    # the persistent kernel: its own lists, pruned the same way, the same pre-hook; the 128 x 256
    # fast-accumulation tile (8 warps) is among its fast tiles
    pers = fg.fp8_gemm_persistent_kernel_autotuned.configs
    assert sorted(map(fg._tile, pers)) == sorted({t for ts in fg._PERSISTENT_TILES.values() for t in ts})
    assert (128, 256, 3, 8) in fg._PERSISTENT_TILES["fast"]
    for c in pers:
        bm, bn = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"]
        assert c.kwargs["BLOCK_K"] == SCALE_BLOCK and bm >= 64 and bn >= 64
        assert c.num_stages * (bm + bn) * SCALE_BLOCK <= 228 * 1024
        nargs = {"a_desc": TensorDescriptor.from_tensor(x, [64, 128]),
                 "bt_desc": TensorDescriptor.from_tensor(x, [64, 128]), **c.all_kwargs()}
        c.pre_hook(nargs)
        assert nargs["a_desc"].block_shape == [bm, SCALE_BLOCK] and nargs["bt_desc"].block_shape == [bn, SCALE_BLOCK]
    for gran, fast, variant in variants:
        kept = fg._prune_persistent_configs(pers, {"M": 4096}, GRAN=gran, FAST_ACCUM=fast)
        assert sorted(map(fg._tile, kept)) == sorted(fg._PERSISTENT_TILES[variant])
        skinny = fg._prune_persistent_configs(pers, {"M": 16}, GRAN=gran, FAST_ACCUM=fast)
        assert skinny and all(c.kwargs["BLOCK_M"] == 64 for c in skinny)


# Every configuration above compiled for sm_90 (shared memory, spills, wgmma, TMA exactly in the TMA
# and persistent kernels): tests/test_sm90_compile.py, through bench/sm90.py and the real launchers.


# ---------------------------------------------------------------------------------- GPU only
def _gpu_case(granularity, fast, kernel, shape):
    name = "-".join([granularity] + ["fast"] * fast + [kernel] * (kernel != "pointer") + ["x".join(map(str, shape))])
    return pytest.param(granularity, fast, kernel, shape, id=name)


_SMALL, _LARGE = (128, 256, 512), (1024, 2048, 4096)


# Every case at a small shape (one fixed tile); at the large one, autotuned, the precise
# tensorwise and blockwise variants of the pointer and TMA kernels and the persistent kernel's
# fast tensorwise variant (its 128 x 256 tile among them) (each new variant compiles its tiles
# once: the GPU check's time budget is shared with every other family).
@pytest.mark.parametrize("granularity,fast,kernel,shape", [
    _gpu_case(g, f, k, _SMALL) for g, f, k in (("tensorwise", False, "pointer"), ("rowwise", False, "pointer"),
                                               ("blockwise", False, "pointer"), ("tensorwise", True, "pointer"),
                                               ("tensorwise", False, "tma"), ("blockwise", False, "tma"),
                                               ("tensorwise", False, "persistent"), ("blockwise", False, "persistent"),
                                               ("tensorwise", True, "persistent"))
] + [_gpu_case(g, False, k, _LARGE) for g in ("tensorwise", "blockwise") for k in ("pointer", "tma")]
  + [_gpu_case("tensorwise", True, "persistent", _LARGE)])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_triton_matches_torch_scaled_mm(granularity, fast, kernel, shape):
    # b column-major: torch._scaled_mm's layout (and the TMA kernel's).
    M, N, K = shape
    qa, qb, sa, sb = operands(M, N, K, granularity, seed=M, device="cuda")
    qb = qb.t().contiguous().t()
    try:
        peer = scaled_mm(qa, qb, sa, sb, backend="scaled_mm", granularity=granularity, fast_accum=fast)
    except RuntimeError as e:
        if granularity == "blockwise" and "rejected this combination" in str(e):
            pytest.skip(f"this torch has no blockwise torch._scaled_mm: {e}")
        raise
    got = fp8_gemm(qa, qb, sa, sb, granularity=granularity, fast_accum=fast, **KERNELS[kernel])
    # kernel_bound covers one GPU side's error against the exact value: twice for two GPU kernels,
    # plus one bf16 rounding each (2**-8 relative each)
    tol = 2 * kernel_bound(qa, qb, sa, sb, granularity, fast) + 2.0**-7 * peer.double().abs()
    assert ((got.double() - peer.double()).abs() <= tol).all()
    sa8 = sa[:8] if sa.dim() else sa
    emu_rows = fp8_gemm_emulated(qa[:8], qb, sa8, sb, granularity=granularity)
    tol_rows = kernel_bound(qa[:8], qb, sa8, sb, granularity, fast) + 2.0**-7 * emu_rows.double().abs()
    assert ((got[:8].double() - emu_rows.double()).abs() <= tol_rows).all()


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_gpu_exact_integer_case_large(kernel):
    # blockwise, operands in [-4, 4]: every 128-deep tensor-core sum is an integer of magnitude
    # <= 2**11, so even a ~14-bit aligned accumulator keeps it exact; the FP32 promotion with
    # power-of-two scales is exact too, so the result must equal the float64 reference bit for bit
    a, b, sa, sb, bias = integer_operands(512, 768, 1024, "blockwise", seed=8, device="cuda", lim=4)
    got = fp8_gemm(a, col_major(b), sa, sb, granularity="blockwise", out_dtype=torch.float32, bias=bias,
                   **KERNELS[kernel])
    exact = (exact_reference(a, b, sa, sb, "blockwise") + bias.double()).float()
    assert torch.equal(got, exact)
