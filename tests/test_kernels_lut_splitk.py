"""The LUT kernel's geometry (kernels/lut_gemm.py): nibble tables, word and byte reads, split-K.

On the CPU the kernel runs in Triton's interpreter (small shapes: every program is Python); the
GPU tests (marked ``gpu``) run the compiled kernel at decode shapes. Integer path: ``torch.equal``
against the reference for every split, so the K split can be seen not to change a single bit;
float path: the fp32 rounding bound of the module docstring, and bit-identical repeated calls
(the split's partial sums are added in a fixed order, no atomics).
"""

import pytest
import torch

from kernels.bcq import MAX_Q
from kernels.lut_gemm import (
    DEFAULT_SM_COUNT,
    GPU_TILES,
    PROGRAMS_PER_SM,
    _word_view,
    lut_gemm,
    lut_gemm_plan,
    lut_gemm_reference,
)
from kernels.testing import DEVICES, HAS_CUDA, bcq_int_case


_int_case = bcq_int_case


def _float_case(M, N, K, q, g, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((M, K), generator=gen).to(dtype)
    packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, generator=gen)
    scales = (torch.rand((q, N, K // g), generator=gen) * 0.1 - 0.03).to(dtype)
    return x, packed, scales


def _bound(x, scales, g):
    K = x.shape[1]
    w_abs = scales.to(torch.float64).abs().sum(0).repeat_interleave(g, dim=-1)
    return (K + 16) * 2.0**-24 * (x.to(torch.float64).abs() @ w_abs.T)


# ------------------------------------------------------------------------------- the plan
def test_plan_fills_132_sms_at_decode_with_a_k_split():
    """1 x 28672 x 8192, q = 3, groups of 128: 672 one-warp programs of 128 (row, plane) pairs
    are too few for 132 SMs; the K split multiplies them past PROGRAMS_PER_SM per SM."""
    plan = lut_gemm_plan(1, 28672, 8192, 3, 128, sm_count=132, interpret=False)
    block_r, nibbles = GPU_TILES[1]
    assert plan["BLOCK_M"] == 1 and plan["BLOCK_R"] == block_r and plan["WORD_BITS"] == 32
    assert plan["CHUNK"] * 8 == nibbles == 32  # 4 words: one 16-byte load per pair and step
    assert plan["chunks"] == 8192 // 128 and not plan["SUM_PLANES"]  # q = 3: planes summed by the reduction
    m_tiles, f_tiles, ksplit = plan["grid"]
    assert (m_tiles, f_tiles) == (1, 3 * 28672 // block_r)
    assert ksplit == plan["ksplit"] > 1
    assert m_tiles * f_tiles * ksplit >= 132 * PROGRAMS_PER_SM
    assert (ksplit - 1) * plan["chunks_per_split"] < plan["chunks"] <= ksplit * plan["chunks_per_split"]  # none empty
    # a batch of 16 rows takes 32-pair tiles (16 tables per step each): 2688 programs, no split;
    # 1024 rows fill the GPU without one too
    p16 = lut_gemm_plan(16, 28672, 8192, 3, 128, sm_count=132, interpret=False)
    assert p16["ksplit"] == 1 and p16["grid"][1] >= 132 * PROGRAMS_PER_SM
    assert lut_gemm_plan(1024, 28672, 8192, 4, 128, sm_count=132, interpret=False)["ksplit"] == 1
    assert lut_gemm_plan(1024, 28672, 8192, 4, 128, sm_count=132, interpret=False)["SUM_PLANES"]


@pytest.mark.parametrize("g,word_bits,chunk", [(8, 8, 1), (24, 8, 1), (16, 8, 2), (32, 32, 1), (64, 32, 2),
                                               (128, 32, 4), (256, 32, 4), (96, 32, 1)])
def test_plan_step_lies_inside_one_group(g, word_bits, chunk):
    K = 3 * 256 if g == 96 else 768
    K -= K % g
    plan = lut_gemm_plan(1, 64, K, 2, g, word_bits=word_bits, interpret=False)
    assert plan["CHUNK"] == chunk and (g // word_bits) % plan["CHUNK"] == 0
    assert plan["chunks"] * plan["CHUNK"] * word_bits == K


def test_plan_split_k_on_off_and_clamped():
    chunks = lut_gemm_plan(1, 10, 1024, 2, 128, interpret=False)["chunks"]
    assert lut_gemm_plan(1, 10, 1024, 2, 128, split_k=1, interpret=False)["ksplit"] == 1
    assert lut_gemm_plan(1, 10, 1024, 2, 128, split_k=3, interpret=False)["ksplit"] == 3
    assert lut_gemm_plan(1, 10, 1024, 2, 128, split_k=10**6, interpret=False)["ksplit"] == chunks
    assert lut_gemm_plan(1, 10, 1024, 2, 128, interpret=False)["ksplit"] == chunks  # tiny N: every step its own
    assert DEFAULT_SM_COUNT == 132


@pytest.mark.parametrize("kwargs,message", [
    ({"split_k": 0}, r"split_k must be None \(automatic\) or a positive int, got 0"),
    ({"split_k": True}, r"split_k must be None \(automatic\) or a positive int, got True"),
    ({"split_k": 2.0}, r"split_k must be None \(automatic\) or a positive int, got 2.0"),
    ({"sm_count": 0}, r"sm_count must be a positive int, got 0"),
    ({"word_bits": 16}, r"word_bits must be 8 or 32 and divide group_size 128, got 16"),
])
def test_plan_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lut_gemm_plan(1, 8, 1024, 3, 128, **kwargs)


def test_plan_rejects_a_grid_too_tall():
    with pytest.raises(ValueError, match=r"\(row, plane\) pairs need .* lut_gemm's grid holds at most 65535"):
        lut_gemm_plan(1, 4 * 65536 * 64, 1024, 4, 128, interpret=False)


def test_word_view_only_where_the_layout_allows_it():
    packed = torch.zeros((3, 10, 64), dtype=torch.uint8)
    w = _word_view(packed, 128)
    assert w is not None and w.dtype == torch.int32 and w.shape == (3, 10, 16) and w.data_ptr() == packed.data_ptr()
    assert _word_view(packed, 64) is not None
    assert _word_view(packed[:, ::2], 128) is not None  # row stride 128 bytes: still whole words
    assert _word_view(packed, 16) is None  # a group of 2 bytes: steps would straddle groups
    shifted = torch.zeros(3 * 10 * 64 + 1, dtype=torch.uint8)[1:].view(3, 10, 64)
    assert _word_view(shifted, 128) is None  # storage offset 1: no aligned int32 view
    assert _word_view(packed.transpose(1, 2).contiguous().transpose(1, 2), 128) is None  # bytes not contiguous


def test_words_are_little_endian_bytes():
    """The kernel's nibble v of word j is byte 4 j + v // 2, low nibble first: the view's order."""
    packed = torch.tensor([[[0x21, 0x43, 0x65, 0x87]]], dtype=torch.uint8)
    word = int(_word_view(packed, 32)[0, 0, 0]) & 0xFFFFFFFF
    assert [(word >> (4 * v)) & 15 for v in range(8)] == [1, 2, 3, 4, 5, 6, 7, 8]


# ------------------------------------------------------------------------------- the kernel
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("M,N,K,q,g", [
    (1, 7, 256, 3, 128),    # decode, word reads, q = 3: per-pair partials summed by the reduction
    (2, 33, 192, 4, 64),    # q = 4: planes summed in the program; N not a multiple of the tile
    (3, 5, 96, 1, 32),      # q = 1, one word per group
    (17, 3, 64, 2, 16),     # M across two 16-row tiles, byte reads (2-byte steps)
    (1, 1, 40, 3, 40),      # a 5-byte group: 1-byte steps
])
@pytest.mark.parametrize("split_k", [1, 2, None], ids=["nosplit", "split2", "auto"])
def test_integer_path_is_exact_for_every_split(device, M, N, K, q, g, split_k):
    x, packed, scales = _int_case(M, N, K, q, g, seed=M * 100 + N + q)
    got = lut_gemm(x.to(device), packed.to(device), scales.to(device), g, split_k=split_k).cpu()
    assert got.dtype == torch.int32 and got.shape == (M, N)
    assert torch.equal(got, lut_gemm_reference(x, packed, scales, g))


@pytest.mark.parametrize("q", range(1, MAX_Q + 1))
def test_every_q_and_both_reads_agree_bit_for_bit(q):
    """The same operands through the word path and, from a misaligned copy, the byte path."""
    M, N, K, g = 2, 9, 128, 32
    x, packed, scales = _int_case(M, N, K, q, g, seed=q)
    buf = torch.zeros(packed.numel() + 1, dtype=torch.uint8)
    shifted = buf[1:].view(packed.shape)
    shifted.copy_(packed)
    assert _word_view(packed, g) is not None and _word_view(shifted, g) is None
    want = lut_gemm_reference(x, packed, scales, g)
    for p in (packed, shifted):
        for split_k in (1, 4):
            assert torch.equal(lut_gemm(x, p, scales, g, split_k=split_k), want), (q, p.storage_offset(), split_k)


@pytest.mark.parametrize("act_dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("split_k", [1, 3, None])
def test_float_path_within_bound_and_deterministic(act_dtype, split_k):
    M, N, K, q, g = 2, 12, 384, 3, 128
    x, packed, scales = _float_case(M, N, K, q, g, act_dtype, seed=7)
    got = lut_gemm(x, packed, scales, g, split_k=split_k)
    want = lut_gemm_reference(x, packed, scales, g)
    assert bool(((got.double() - want.double()).abs() <= _bound(x, scales, g)).all())
    assert torch.equal(lut_gemm(x, packed, scales, g, split_k=split_k), got)  # the same bits again


def test_integer_extremes_survive_the_split():
    """Every entry at its largest (x = -128, all signs -1) in every split and plane: the partial
    sums are each bounded by the total, which the launcher's int32 check keeps below 2**31."""
    q, N, K, g = 4, 5, 256, 64
    x = torch.full((1, K), -128, dtype=torch.int8)
    packed = torch.zeros((q, N, K // 8), dtype=torch.uint8)
    scales = torch.full((q, N, K // g), 2**14 - 1, dtype=torch.int32)
    for split_k in (1, 2, 8):
        got = lut_gemm(x, packed, scales, g, split_k=split_k)
        assert torch.equal(got, torch.full((1, N), q * K * 128 * (2**14 - 1), dtype=torch.int32)), split_k


@pytest.mark.parametrize("args,kwargs,exc,message", [
    ((), {"split_k": 0}, ValueError, r"split_k must be None \(automatic\) or a positive int, got 0"),
    ((), {"split_k": -2}, ValueError, r"split_k must be None \(automatic\) or a positive int, got -2"),
    ((), {"split_k": "2"}, ValueError, r"split_k must be None \(automatic\) or a positive int, got '2'"),
    ((), {"check_range": 1}, TypeError, r"check_range must be a bool, got int"),
])
def test_launcher_rejects_bad_arguments(args, kwargs, exc, message):
    x, packed, scales = _int_case(1, 3, 64, 2, 32, seed=0)
    with pytest.raises(exc, match=message):
        lut_gemm(x, packed, scales, 32, **kwargs)
    with pytest.raises(exc, match=message):
        lut_gemm(x[:0], packed, scales, 32, **kwargs)  # checked before the empty-batch shortcut


# ------------------------------------------------------------------------------- GPU only
@pytest.mark.parametrize("dtype", [torch.float16, torch.int8])
@pytest.mark.parametrize("M,q", [(1, 3), (1, 4), (4, 2), (16, 3)])
@pytest.mark.parametrize("split_k", [1, None], ids=["nosplit", "auto"])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_decode_shapes_split_on_and_off(dtype, M, q, split_k):
    N, K, g = 3000, 4096, 128
    if dtype == torch.int8:
        x, packed, scales = _int_case(M, N, K, q, g, seed=M + q)
    else:
        x, packed, scales = _float_case(M, N, K, q, g, dtype, seed=M + q)
    got = lut_gemm(x.cuda(), packed.cuda(), scales.cuda(), g, split_k=split_k).cpu()
    want = lut_gemm_reference(x, packed, scales, g)
    if dtype == torch.int8:
        assert torch.equal(got, want)
    else:
        assert bool(((got.double() - want.double()).abs() <= _bound(x, scales, g)).all())

