"""The small-batch path of kernels/wonly_gemm.py: the GEMV kernel (M <= 16) and its dispatch.

Runs in Triton's interpreter on the CPU here (small tiles, so that tiles, steps, units and K
splits all have edges), compiled on a GPU (``cuda``). Held to the float64 reference within
wonly_tolerance; and exactly equal to it where the arithmetic is exact: integer activations, unit
(power-of-two) scales and integer outlier weights make every product and partial sum an integer
below 2^24, so any order of fp32 accumulation, any K split, FMA or tensor-core, gives the same.
"""

import pytest
import torch

import kernels.wonly_gemm as wg
from kernels.lowbit import rtn_quantize
from kernels.lowbit_format import pack_codes, packed_words
from kernels.testing import DEVICES, one_torch_thread  # noqa: F401  (autouse fixture)
from kernels.wonly_gemm import (
    CODES_PER_UNIT,
    GEMV_MAX_M,
    plan_gemv,
    wonly_gemm,
    wonly_gemm_reference,
    wonly_tolerance,
)


def _operands(M, N, K, bits, g, n_out, seed, dtype, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(N, K, generator=gen)
    idx = torch.randperm(K, generator=gen)[:n_out] if n_out else None
    ops = rtn_quantize(w, bits, g, outlier_idx=idx).pack()
    x = torch.randn(M, K, generator=gen).to(dtype)
    outl = (ops["outlier_idx"], ops["outlier_weight"]) if n_out else (None, None)
    args = (x, ops["qweight"], ops["scales"], ops["zeros"], bits, g, *outl)
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


def _integer_operands(M, N, K, bits, g, n_out, seed, device="cpu"):
    """Integer x, codes, zero points and outlier weights; scales powers of two: exact arithmetic."""
    gen = torch.Generator().manual_seed(seed)
    G = K // (g or K)
    codes = torch.randint(0, 2**bits, (N, K), generator=gen)
    zeros = torch.randint(0, 2**bits, (G, N), generator=gen)
    args = [torch.randint(-128, 128, (M, K), generator=gen).float(), pack_codes(codes, bits),
            (2.0 ** torch.randint(-2, 3, (G, N), generator=gen)).half(), zeros.to(torch.uint8), bits, g]
    if n_out:
        idx = torch.randperm(K, generator=gen)[:n_out].sort().values
        codes[:, idx] = zeros.repeat_interleave(g or K, dim=0).T[:, idx]  # dense part exactly 0
        args[1] = pack_codes(codes, bits)
        args += [idx.to(torch.int32), torch.randint(-64, 64, (n_out, N), generator=gen).half()]
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


def _check(args, out_dtype=None, split_k=None):
    y = wonly_gemm(*args, out_dtype=out_dtype, split_k=split_k)
    x, q = args[0], args[1]
    assert y.dtype == (out_dtype or x.dtype) and y.shape == (x.shape[0], q.shape[1])
    cpu = tuple(a.cpu() if isinstance(a, torch.Tensor) else a for a in args)
    diff = (y.cpu().double() - wonly_gemm_reference(*cpu).double()).abs()
    tol = wonly_tolerance(*cpu, out_dtype=out_dtype)
    assert bool((diff <= tol).all()), f"max diff/tol {float((diff / tol).max()):.3g}"
    return y


# ------------------------------------------------------------------------ every bits, M, group
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M", [1, 3, 16])
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("g,K,n_out", [
    (32, 128, 3),  # W3, W4, W2: whole steps inside a group (GROUPED), outliers over splits
    (24, 72, 0),  # a group that is no multiple of a W3 / W2 unit: each code reads its own group
    (None, 40, 1),  # per-channel, K not a whole number of W3 / W2 units: a partial last unit
])
def test_gemv_matches_reference(device, bits, M, g, K, n_out):
    dtype = {1: torch.bfloat16, 3: torch.float16, 16: torch.float32}[M]
    _check(_operands(M, 37, K, bits, g, n_out, seed=bits * 100 + M, dtype=dtype, device=device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("M", [1, 6])
@pytest.mark.parametrize("g", [32, 24])
def test_gemv_is_exact_with_and_without_split_k(device, bits, M, g):
    """Exact arithmetic: y == reference bit for bit, whether K is split or not (and both ways agree)."""
    args = _integer_operands(M, 21, 96, bits, g, n_out=5, seed=bits + 10 * M + g, device=device)
    ref = wonly_gemm_reference(*(a.cpu() if isinstance(a, torch.Tensor) else a for a in args))
    whole = wonly_gemm(*args, out_dtype=torch.float32, split_k=1)
    split = wonly_gemm(*args, out_dtype=torch.float32, split_k=3)
    assert plan_gemv(M, 21, 96, bits, g, 5, split_k=3).split_k > 1
    assert torch.equal(whole.cpu(), ref) and torch.equal(split.cpu(), ref)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("M", [1, 7, 16])
def test_pairs_form_is_exact_with_16_bit_activations(device, bits, dtype, M):
    """The pairs form (two codes per instruction: 2^E + code 2^pos in each 16-bit half, one packed FMA
    to code - zero) on integer activations, exact in bf16 and fp16: y == reference bit for bit, with
    and without split-K, on the plan's own tiles and on the GPU's (every field position of both
    formats: W2 in 2 (bf16) or 4 (fp16) parts, W4 in 1 or 2, W3's windows)."""
    args = list(_integer_operands(M, 37, 512, bits, 128, n_out=3, seed=bits + M, device=device))
    args[0] = args[0].to(dtype)
    ref = wonly_gemm_reference(*(a.cpu() if isinstance(a, torch.Tensor) else a for a in args))
    for plan_args in ({}, {"sm_count": 132, "interpreter": False}):
        plan = plan_gemv(M, 37, 512, bits, 128, 3, dtype, **plan_args)
        assert plan.pairs and plan.use_dot and plan.grouped, plan
        for split_k in (1, 3):
            y = torch.empty((M, 37), dtype=torch.float32, device=device)
            x, q, scales, zeros, _, _, idx, ow = args
            wg._launch_gemv(x, q, scales, zeros, idx, ow, y, bits, 128, 3,
                            plan_gemv(M, 37, 512, bits, 128, 3, dtype, split_k=split_k, **plan_args))
            assert torch.equal(y.cpu(), ref), (plan_args, split_k)


def test_pair_parts_keep_every_field_below_the_exponent():
    """A pair's field ends at or below bit E (7 bf16, 10 fp16) after its part's shift: pos + bits <= E."""
    for bits in (2, 4):
        for f16, E in ((False, 7), (True, 10)):
            n = wg.pair_parts(bits, f16)
            assert (32 // bits // 2) % n == 0 and bits * (n - 1) + bits <= E
            assert bits * 2 * n > E or (32 // bits // 2) % (2 * n)  # the most that fit
    assert plan_gemv(1, 8, 256, 4, 128, x_dtype=torch.float32).pairs is False  # fp32: no 16-bit halves
    assert plan_gemv(1, 8, 64, 2, 32, x_dtype=torch.float16).pairs is False  # W2 fp16 needs 64-code steps


# ---------------------------------------------------------------------------------- split-K
@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("M", [1, 5])
def test_split_k_within_tolerance_and_deterministic(bits, M):
    args = _operands(M, 19, 256, bits, 64, 4, seed=bits + M, dtype=torch.float16)
    plans = [plan_gemv(M, 19, 256, bits, 64, 4, split_k=s) for s in (1, 2, 5, 1000)]
    # 5 splits of a few steps (8 here, 4 for the W2 pairs form) take 1-2 each; 1000: one step per split
    assert [p.split_k for p in plans[:2]] == [1, 2] and 2 < plans[2].split_k <= 5
    steps = -(-(256 // CODES_PER_UNIT[bits]) // plans[3].block_u)
    assert plans[3].units_per_split == plans[3].block_u and plans[3].split_k == steps > 2
    # every split has its share of the outliers, and none is left out
    assert all(p.outliers_per_split * p.split_k >= 4 for p in plans)
    for s in (1, 2, 5, 1000):
        first = _check(args, split_k=s)
        assert torch.equal(first, wonly_gemm(*args, split_k=s))  # fixed-order reduction: run to run


def test_split_k_reduces_in_a_fixed_order(monkeypatch):
    """The partials are summed s = 0, 1, ..., S-1 by one kernel: y is that sum, rounded once."""
    args = _operands(2, 19, 256, 4, 64, 0, seed=3, dtype=torch.float16)
    seen = {}
    original = wg._launch_gemv

    def spy(*a, **k):
        seen["plan"] = a[-1]
        return original(*a, **k)

    monkeypatch.setattr(wg, "_launch_gemv", spy)
    y = wonly_gemm(*args, out_dtype=torch.float32, split_k=4)
    plan = seen["plan"]
    assert plan.split_k == 4
    # the same partials, from one K range at a time (split_k=1 on a slice of K is that range's partial)
    ups_codes = plan.units_per_split * CODES_PER_UNIT[4]
    x, q, s, z = args[:4]
    wpu = packed_words(ups_codes, 4)
    gps = ups_codes // 64  # groups per split
    parts = [wonly_gemm(x[:, i * ups_codes:(i + 1) * ups_codes], q[i * wpu:(i + 1) * wpu], s[i * gps:(i + 1) * gps],
                        z[i * gps:(i + 1) * gps], 4, 64, out_dtype=torch.float32, split_k=1)
             for i in range(4)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    assert torch.equal(y, total)


# -------------------------------------------------------------------------------- odd shapes
@pytest.mark.parametrize("M,N,K,bits,g,n_out", [
    (1, 1, 8, 4, None, 0),  # one output, one word
    (2, 33, 37, 3, 37, 2),  # K = 37 at 3 bits: 111 bits, a partial last unit and word
    (1, 17, 5, 2, 1, 1),  # groups of one code: every code its own scale
    (16, 40, 1, 4, None, 1),  # K = 1: the whole input column is an outlier
    (7, 5, 160, 2, 32, 20),  # more outliers than a BLOCK_O, spread over splits
    (1, 64, 48, 3, 16, 0),  # W3 groups of 16: half a unit
])
def test_gemv_odd_shapes(M, N, K, bits, g, n_out):
    args = _operands(M, N, K, bits, g, n_out, seed=K + N, dtype=torch.float16)
    for split in (None, 2):
        _check(args, split_k=split)


@pytest.mark.parametrize("device", DEVICES)
def test_gemv_strided_activations_and_fp32_output(device):
    args = _operands(4, 24, 64, 4, 32, 2, seed=9, dtype=torch.float32)
    x = args[0].T.contiguous().T.to(device)  # column-major
    assert not x.is_contiguous()
    rest = tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args[1:])
    _check((x, *rest))
    x1 = _operands(1, 24, 64, 4, 32, 0, seed=9, dtype=torch.bfloat16)[0][:, ::1].to(device)
    _check((x1, *rest[:5], None, None), out_dtype=torch.float32)


# ------------------------------------------------------------------------------- dispatcher
def test_dispatcher_sends_small_batches_to_the_gemv_kernel(monkeypatch):
    calls = []
    original = wg._launch_gemv
    monkeypatch.setattr(wg, "_launch_gemv", lambda *a, **k: calls.append(a[-1]) or original(*a, **k))
    for M in (1, GEMV_MAX_M, GEMV_MAX_M + 1):
        _check(_operands(M, 19, 64, 4, 32, 1, seed=M, dtype=torch.float16))
    # fp16 activations, groups of 32: the pairs form at every M; M = 17 ran the tiled GEMM kernel
    assert [(p.use_dot, p.pairs) for p in calls] == [(True, True), (True, True)]


def test_gpu_plans_fill_an_h100():
    """The GPU's plans for the benchmark's layer: the pairs form at every M (bf16 activations), every
    path keeps 132 SMs busy, splits K where N alone does not, and each step lies in one group of 128."""
    N, K = 28672, 8192
    for bits in (4, 3, 2):
        for M in (1, 16):
            p = plan_gemv(M, N, K, bits, 128, 32, torch.bfloat16, sm_count=132, interpreter=False)
            programs = -(-N // p.block_n) * p.split_k
            assert p.pairs and p.use_dot and p.grouped and programs >= 2 * 132, (bits, M, p)
            units = K // CODES_PER_UNIT[bits]
            assert p.units_per_split * p.split_k >= units > p.units_per_split * (p.split_k - 1)
        assert plan_gemv(1, N, K, bits, 128, sm_count=132, interpreter=False).split_k > 1
    # a layer wide enough to fill the GPU by itself is not split
    assert plan_gemv(1, 2**20, 4096, 4, 128, sm_count=132, interpreter=False).split_k == 1


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("M,dtype", [(1, torch.bfloat16), (5, torch.float16), (16, torch.float32)], ids=str)
@pytest.mark.parametrize("g", [128, 24])
def test_gpu_tiles_run_in_the_interpreter(bits, M, dtype, g):
    """The GPU's plans (its BLOCK_N, BLOCK_U and split-K; grouped or per-code) run here too, in
    the interpreter: the step, unit and split arithmetic of the compiled tiles is checked on the CPU."""
    if not wg.TRITON_INTERPRET:
        pytest.skip("runs the GPU's tiles in Triton's interpreter")
    x, q, s, z, _, _, oi, ow = _operands(M, 40, 1152, bits, g, 3, seed=bits + M + g, dtype=dtype)
    plan = plan_gemv(M, 40, 1152, bits, g, 3, dtype, sm_count=132, interpreter=False)
    # groups of 24 cut W3 and W2 units, and the dot's W4 steps (16 codes): per-code parameters
    assert plan.split_k > 1 and plan.grouped == (g == 128 or (bits == 4 and M == 1))
    y = torch.empty((M, 40), dtype=dtype)
    wg._launch_gemv(x, q, s, z, oi, ow, y, bits, g, 3, plan)
    args = (x, q, s, z, bits, g, oi, ow)
    diff = (y.double() - wonly_gemm_reference(*args).double()).abs()
    assert bool((diff <= wonly_tolerance(*args)).all())


# -------------------------------------------------------------------------------- bad input
def test_gemv_rejects_bad_arguments():
    args = _operands(2, 8, 64, 4, 32, 0, seed=0, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"split_k must be a positive integer or None \(automatic\), got 0"):
        wonly_gemm(*args, split_k=0)
    with pytest.raises(ValueError, match=r"split_k must be a positive integer or None \(automatic\), got 2.0"):
        wonly_gemm(*args, split_k=2.0)
    big = _operands(GEMV_MAX_M + 1, 8, 64, 4, 32, 0, seed=0, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"split_k applies to the GEMV path \(M <= 16\); M = 17 runs the GEMM kernel"):
        wonly_gemm(*big, split_k=2)
    with pytest.raises(ValueError, match=r"M must lie in 1..16 for the GEMV path, got 17"):
        plan_gemv(17, 8, 64, 4, 32)
    with pytest.raises(ValueError, match=r"sm_count must be a positive integer, got 0"):
        plan_gemv(1, 8, 64, 4, 32, sm_count=0)
    with pytest.raises(ValueError, match=r"bits must be one of \(2, 3, 4\), got 5"):
        plan_gemv(1, 8, 64, 5, 32)
    with pytest.raises(ValueError, match=r"group_size 48 does not divide K = 64"):
        plan_gemv(1, 8, 64, 4, 48)
