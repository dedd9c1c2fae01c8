"""kernels/bitplane_gemm.py: bit-plane packing, the popcount and the unpack + tl.dot kernels.

Both kernels are integer-exact, so every check is bit-for-bit: against the torch int64 matmul,
and against the bit-serial engine models of sim/bitserial.py (Stripes, Bit Fusion, Laconic) on
the same operands. Interpreter shapes are tiny (the 8 x 8-bit popcount path runs 64 plane pairs
per word in NumPy); the GPU test (marked gpu) runs larger ones and both popcount variants.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.bitplane_gemm import (
    bitplane_gemm,
    bitplane_gemm_dot,
    bitplane_gemm_popcount,
    bitplane_gemm_reference,
    count_bitplane_ops,
    pack_bitplanes,
    unpack_bitplanes,
    value_range,
)
from sim.bitserial import BitFusionConfig, LaconicConfig, StripesConfig, simulate_gemm


def _rand(gen, shape, bits, signed, device="cpu"):
    lo, hi = value_range(bits, signed)
    return torch.randint(lo, hi + 1, shape, generator=gen).to(device)


def test_pack_layout_and_round_trip():
    x = torch.zeros((2, 40), dtype=torch.int64)
    x[0, 33] = 1  # word 1, bit 1 of plane 0
    x[1, 31] = -1  # signed 8-bit -1: bit 31 of word 0 in every plane (int32 -2^31)
    p = pack_bitplanes(x, 8, signed=True)
    assert p.shape == (8, 2, 2) and p.dtype == torch.int32
    assert p[0, 0].tolist() == [0, 2] and p[1:, 0].abs().sum() == 0
    assert p[:, 1, 0].tolist() == [-(2**31)] * 8 and p[:, 1, 1].abs().sum() == 0
    gen = torch.Generator().manual_seed(0)
    for bits, signed in ((1, False), (1, True), (3, True), (7, False), (8, True)):
        y = _rand(gen, (5, 71), bits, signed)
        assert torch.equal(unpack_bitplanes(pack_bitplanes(y, bits, signed), 71, signed), y)


CASES = [  # (a_bits, w_bits, a_signed, w_signed)
    (8, 8, True, True), (1, 1, False, False), (1, 1, True, True), (3, 5, True, False), (2, 4, False, True),
    (4, 2, True, True),
]


@pytest.mark.parametrize("a_bits,w_bits,a_signed,w_signed", CASES)
def test_popcount_path_is_exact(a_bits, w_bits, a_signed, w_signed):
    gen = torch.Generator().manual_seed(a_bits * 10 + w_bits)
    shapes = [(3, 5, 7), (17, 18, 70)] if a_bits * w_bits <= 16 else [(3, 5, 40)]
    for m, n, k in shapes:
        a = _rand(gen, (m, k), a_bits, a_signed)
        w = _rand(gen, (k, n), w_bits, w_signed)
        c = bitplane_gemm(a, w, a_bits, w_bits, a_signed=a_signed, w_signed=w_signed)
        assert c.dtype == torch.int32
        assert torch.equal(c, bitplane_gemm_reference(a, w)), (m, n, k)


def test_popcount_of_full_words_and_sign_bit():
    """1-bit unsigned planes: C is the plain popcount of AND over K; all-ones words (int32 -1)."""
    a = torch.ones((2, 96), dtype=torch.int64)
    w = torch.ones((96, 3), dtype=torch.int64)
    w[64:, 1] = 0
    c = bitplane_gemm(a, w, 1, 1, a_signed=False, w_signed=False)
    assert c.tolist() == [[96, 64, 96]] * 2


@pytest.mark.parametrize("w_bits,w_signed", [(8, True), (1, False), (3, True), (4, False), (7, False)])
def test_dot_path_is_exact(w_bits, w_signed):
    gen = torch.Generator().manual_seed(w_bits)
    for m, n, k in ((1, 1, 1), (5, 19, 70), (17, 3, 33)):
        a = _rand(gen, (m, k), 8, True).to(torch.int8)
        w = _rand(gen, (k, n), w_bits, w_signed)
        c = bitplane_gemm(a, w, 8, w_bits, method="dot", w_signed=w_signed)
        assert torch.equal(c, bitplane_gemm_reference(a, w)), (m, n, k)
    # the extremes: -128 x the most negative / largest weight
    lo, hi = value_range(w_bits, w_signed)
    a = torch.full((3, 45), -128, dtype=torch.int8)
    w = torch.tensor([[lo, hi]] * 45)
    assert bitplane_gemm(a, w, 8, w_bits, method="dot", w_signed=w_signed).tolist() == [[-128 * 45 * lo,
                                                                                          -128 * 45 * hi]] * 3


@pytest.mark.parametrize("cfg", [StripesConfig(a_bits=8, w_bits=8, lanes=16), StripesConfig(a_bits=3, w_bits=2, a_signed=False),
                                 BitFusionConfig(4, 4), BitFusionConfig(2, 8, a_signed=False), BitFusionConfig(8, 2),
                                 LaconicConfig(5, 3)], ids=repr)
def test_kernels_equal_the_bitserial_engines(cfg):
    """The same operands through a bit-serial engine model and both kernels: identical C."""
    rng = np.random.default_rng(cfg.a_bits * 8 + cfg.w_bits)
    alo, ahi = value_range(cfg.a_bits, cfg.a_signed_)
    wlo, whi = value_range(cfg.w_bits, cfg.w_signed_)
    a = rng.integers(alo, ahi + 1, (3, 37))
    w = rng.integers(wlo, whi + 1, (37, 4))
    a[0, :] = alo  # a row of extremes
    model = simulate_gemm(a, w, cfg).c
    at, wt = torch.from_numpy(a), torch.from_numpy(w)
    c = bitplane_gemm(at, wt, cfg.a_bits, cfg.w_bits, a_signed=cfg.a_signed_, w_signed=cfg.w_signed_)
    np.testing.assert_array_equal(c.numpy(), model)
    c = bitplane_gemm(at, wt, cfg.a_bits, cfg.w_bits, method="dot", a_signed=cfg.a_signed_, w_signed=cfg.w_signed_)
    np.testing.assert_array_equal(c.numpy(), model)


def test_op_counts():
    ops = count_bitplane_ops(4, 8, 70, 3, 2)
    # 70 elements -> 3 words per row; 6 plane pairs per output
    assert ops.ands == ops.popcounts == 4 * 8 * 3 * 6
    assert ops.shifts == 4 * 8 * 6 and ops.adds == ops.ands + ops.shifts and ops.macs == 0
    assert ops.bytes == 4 * 3 * 4 * 3 + 4 * 2 * 8 * 3 + 4 * 4 * 8
    assert ops.dense_ops == 2 * 4 * 8 * 70
    dot = count_bitplane_ops(4, 8, 70, 8, 2, "dot")
    assert dot.macs == 4 * 8 * 70 and dot.popcounts == 0 and dot.bytes == 4 * 70 + 4 * 2 * 8 * 3 + 4 * 4 * 8
    with pytest.raises(ValueError, match=r"method must be one of \('popcount', 'dot'\), got 'lut'"):
        count_bitplane_ops(1, 1, 1, 1, 1, "lut")
    with pytest.raises(ValueError, match=r"k must be a positive integer, got 0"):
        count_bitplane_ops(1, 1, 0, 1, 1)


A8 = torch.zeros((2, 40), dtype=torch.int8)
P2 = pack_bitplanes(torch.zeros((3, 40), dtype=torch.int64), 2)


@pytest.mark.parametrize("call,exc,message", [
    (lambda: pack_bitplanes(torch.zeros(4, dtype=torch.int8), 2), ValueError, r"x must be a 2-D matrix, got a 1-D"),
    (lambda: pack_bitplanes(torch.zeros((2, 2)), 2), TypeError, r"x must have an integer dtype, got torch.float32"),
    (lambda: pack_bitplanes(A8, 9), ValueError, r"bits must be an integer in 1..8, got 9"),
    (lambda: pack_bitplanes(torch.tensor([[2]]), 2), ValueError,
     r"x holds values outside the signed 2-bit range \[-2, 1\] \(min 2, max 2\)"),
    (lambda: pack_bitplanes(torch.tensor([[-1]]), 3, signed=False), ValueError,
     r"x holds values outside the unsigned 3-bit range \[0, 7\]"),
    (lambda: pack_bitplanes(A8, 2, signed=1), ValueError, r"signed must be True or False, got 1"),
    (lambda: unpack_bitplanes(P2, 70), ValueError, r"k = 70 needs 3 words of 32 per row, but planes has 2"),
    (lambda: bitplane_gemm_popcount(P2, P2.to(torch.int64), 40), TypeError,
     r"w_planes must be int32 packed bit-planes \(pack_bitplanes\), got torch.int64"),
    (lambda: bitplane_gemm_popcount(P2, P2[0], 40), ValueError, r"w_planes must be 3-D \(bits, rows, words\)"),
    (lambda: bitplane_gemm_popcount(P2, P2[:, :, :1], 40), ValueError,
     r"a_planes and w_planes must have the same words per row, got 2 and 1"),
    (lambda: bitplane_gemm_popcount(P2, P2, 40, popcount="fast"), ValueError,
     r"popcount must be 'auto', 'hw' or 'swar', got 'fast'"),
    (lambda: bitplane_gemm_dot(A8.to(torch.int16), P2), TypeError, r"a must have dtype torch.int8, got torch.int16"),
    (lambda: bitplane_gemm_dot(A8[:, :30], P2), ValueError, r"k = 30 needs 1 words of 32 per row, but w_planes has 2"),
    (lambda: bitplane_gemm(A8, torch.zeros((41, 2), dtype=torch.int8), 8, 2), ValueError,
     r"inner dimensions must match: a is \(M, K\) = \(2, 40\) but w is \(K, N\) = \(41, 2\)"),
    (lambda: bitplane_gemm(A8, torch.zeros((40, 2), dtype=torch.int8), 8, 2, method="lut"), ValueError,
     r"method must be one of \('popcount', 'dot'\), got 'lut'"),
    (lambda: bitplane_gemm(A8 + 5, torch.zeros((40, 2), dtype=torch.int8), 2, 2), ValueError,
     r"a holds values outside the signed 2-bit range \[-2, 1\] \(min 5, max 5\)"),
    (lambda: bitplane_gemm(A8, torch.zeros((40, 2), dtype=torch.int8), 8, 8, method="dot", a_signed=False),
     ValueError, r"unsigned 8-bit activations do not fit int8"),
    (lambda: bitplane_gemm_popcount(torch.zeros((8, 1, 1250), dtype=torch.int32),
                                    torch.zeros((8, 1, 1250), dtype=torch.int32), 40000),
     ValueError, r"K = 40000 with 8-bit x 8-bit operands can overflow the int32 accumulator"),
])
def test_rejects_bad_input(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("popcount", ["hw", "swar"])
def test_gpu_kernels_exact(popcount):
    gen = torch.Generator().manual_seed(7)
    for a_bits, w_bits, m, n, k in ((1, 1, 130, 257, 1000), (8, 8, 33, 70, 300), (2, 4, 64, 64, 4096)):
        a = _rand(gen, (m, k), a_bits, True, "cuda")
        w = _rand(gen, (k, n), w_bits, True, "cuda")
        ref = bitplane_gemm_reference(a, w)
        c = bitplane_gemm_popcount(pack_bitplanes(a, a_bits), pack_bitplanes(w.t(), w_bits), k, popcount=popcount)
        assert torch.equal(c, ref)
        a8 = _rand(gen, (m, k), 8, True, "cuda").to(torch.int8)
        assert torch.equal(bitplane_gemm_dot(a8, pack_bitplanes(w.t(), w_bits)), bitplane_gemm_reference(a8, w))
