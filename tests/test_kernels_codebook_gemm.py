"""The codebook GEMM (kernels/codebook_gemm.py) against its float64 torch reference.

On the CPU the kernel runs in Triton's interpreter (small shapes: every program is Python). Two
kinds of check, as the module docstring states them: exact equality where nothing can round
(integer-valued activations, codebooks and scales, every partial sum below 2**24), whatever the
K split or the form (FMA at up to 8 rows, dot at 16); and the stated elementwise bound
(K + 64) 2**-23 (|x| @ |W|^T) for random float operands. Shapes are odd on purpose: N not a
multiple of the tile, K not a multiple of the 32-code step (3-bit codes straddling words in the
tail), batches of 1, 3, 9 and 17 rows, one codebook per layer, per row group and per row. The one
GPU test (marked ``gpu``) runs the compiled kernel at decode shapes (bench/sm90.py compiles the
same launches in advance).
"""

import pytest
import torch

from kernels._triton_env import TRITON_INTERPRET
from kernels.codebook_gemm import (
    GPU_TILES,
    PROGRAMS_PER_SM,
    codebook_gemm,
    codebook_gemm_plan,
    codebook_gemm_reference,
    codebook_gemm_weight,
    codebook_tolerance,
    count_codebook_ops,
)
from kernels.codebook_quant import dgms_quantize, nupes_quantize, pack_codebook_codes
from kernels.lowbit_format import packed_words
from kernels.testing import HAS_CUDA, one_torch_thread  # noqa: F401  (autouse: one torch thread)

INTERPRETER = pytest.mark.skipif(not TRITON_INTERPRET, reason="CPU tensors run only in Triton's interpreter")


def _case(M, N, K, bits, rows_per_codebook, group_size, dtype, seed, integer, device="cpu"):
    """Random operands: (x, packed, codebook, scales); integer-valued when ``integer`` (products
    and sums then stay integers far below 2**24: |x| <= 16, |codebook| <= 8, scales 1..3)."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 1 << bits, (N, K), generator=gen, dtype=torch.uint8)
    packed = pack_codebook_codes(codes, bits)
    n_cb = N // rows_per_codebook
    if integer:
        codebook = torch.randint(-8, 9, (n_cb, 1 << bits), generator=gen).to(torch.float16)
        x = torch.randint(-16, 17, (M, K), generator=gen).to(dtype)
        scales = None if group_size is None else \
            torch.randint(1, 4, (N, K // group_size), generator=gen).to(torch.float16)
    else:
        codebook = torch.randn((n_cb, 1 << bits), generator=gen).to(torch.float16)
        x = torch.randn((M, K), generator=gen).to(dtype)
        scales = None if group_size is None else \
            (torch.rand((N, K // group_size), generator=gen) + 0.5).to(torch.float16)
    to = (lambda t: t) if device == "cpu" else (lambda t: None if t is None else t.to(device))
    return to(x), to(packed), to(codebook), to(scales)


# (M, N, K, bits, rows_per_codebook, group_size): odd N, K past the last whole step, every bit width,
# per-layer / per-row-group / per-row codebooks, scales per group, per row, or none
SHAPES = [
    (1, 17, 64, 4, 17, None),
    (3, 40, 96, 3, 1, 32),
    (9, 33, 128, 2, 11, 64),
    (17, 16, 40, 3, 16, None),
    (1, 5, 256, 3, 5, 128),
    (2, 24, 33, 4, 8, 33),
    (5, 7, 160, 2, 7, 32),
]


@INTERPRETER
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:3])) + f"-b{s[3]}-R{s[4]}-g{s[5]}")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_integer_operands_are_exact_for_every_split(shape, dtype):
    """Integer-valued x, codebook and scales: no product or partial sum rounds, so the kernel equals the
    float64 reference exactly, with K split or not (and so the split changes no bit)."""
    M, N, K, bits, R, g = shape
    x, packed, cb, sc = _case(M, N, K, bits, R, g, dtype, seed=M * N + K, integer=True)
    want = codebook_gemm_reference(x, packed, cb, bits, scales=sc, group_size=g)
    for split_k in (1, 3, None):
        y = codebook_gemm(x, packed, cb, bits, scales=sc, group_size=g, split_k=split_k)
        assert y.dtype == torch.float32 and y.shape == (M, N)
        assert torch.equal(y.double(), want), (shape, dtype, split_k)


@INTERPRETER
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:3])) + f"-b{s[3]}-R{s[4]}-g{s[5]}")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_float_operands_within_the_stated_bound(shape, dtype):
    """Random float operands: |y - ref| <= (K + 64) 2**-23 (|x| @ |W|^T) elementwise, split or not;
    a repeated call gives the same bits (fixed-order K-split reduction, no atomics)."""
    M, N, K, bits, R, g = shape
    x, packed, cb, sc = _case(M, N, K, bits, R, g, dtype, seed=7 * M + N + K, integer=False)
    want = codebook_gemm_reference(x, packed, cb, bits, scales=sc, group_size=g)
    tol = codebook_tolerance(x, packed, cb, bits, scales=sc, group_size=g)
    for split_k in (1, None):
        y = codebook_gemm(x, packed, cb, bits, scales=sc, group_size=g, split_k=split_k)
        err = (y.double() - want).abs()
        assert bool((err <= tol).all()), (shape, dtype, split_k, float((err - tol).max()))
        assert torch.equal(y, codebook_gemm(x, packed, cb, bits, scales=sc, group_size=g, split_k=split_k))


@INTERPRETER
def test_strided_views_and_empty_operands():
    """Non-contiguous x, packed words and codebook read through their strides; M = 0 or N = 0 give
    empty outputs without a launch."""
    x, packed, cb, sc = _case(3, 12, 64, 4, 4, 32, torch.float16, seed=1, integer=True)
    want = codebook_gemm_reference(x, packed, cb, 4, scales=sc, group_size=32)
    x_t = x.T.contiguous().T  # column-major
    packed_big = torch.zeros((12, 2 * packed.shape[1]), dtype=torch.int32)
    packed_big[:, ::2] = packed
    cb_t = cb.T.contiguous().T
    sc_t = sc.T.contiguous().T
    y = codebook_gemm(x_t, packed_big[:, ::2], cb_t, 4, scales=sc_t, group_size=32, split_k=2)
    assert torch.equal(y.double(), want)
    assert codebook_gemm(x[:0], packed, cb, 4, scales=sc, group_size=32).shape == (0, 12)
    assert codebook_gemm(x, packed[:0], cb[:1, :], 4).shape == (3, 0)


@INTERPRETER
@pytest.mark.parametrize("bits", [2, 3, 4])
def test_quantiser_outputs_run_on_the_kernel(bits):
    """NUPES (per-layer codebook + group scales) and DGMS (per-layer codebook, no scales) weights,
    through :func:`codebook_gemm_weight`, match x @ W_q^T of their own dequantised weights."""
    gen = torch.Generator().manual_seed(bits)
    w = torch.randn((24, 128), generator=gen) * 0.05
    x = torch.randn((3, 128), generator=gen).to(torch.float16)
    for cw in (nupes_quantize(w, bits, 64), dgms_quantize(w, bits, iters=5)):
        y = codebook_gemm_weight(x, cw)
        ref = x.double() @ cw.dequantize(torch.float64).T
        tol = codebook_tolerance(x, cw.packed, cw.codebook, bits, scales=cw.scales,
                                 group_size=cw.group_size if cw.scales is not None else None)
        assert bool(((y.double() - ref).abs() <= tol).all()), cw.method


def test_plan_fills_132_sms_at_decode_with_a_k_split():
    """1 x 28672 x 8192, groups of 128: 448 one-warp programs of 64 rows are too few for 132 SMs;
    the K split multiplies them past PROGRAMS_PER_SM per SM, no split empty. 16 rows take the dot
    form; fp32 activations a narrower tile there."""
    plan = codebook_gemm_plan(1, 28672, 8192, 3, 128, sm_count=132, interpret=False)
    block_n, chunk = GPU_TILES[1]
    assert (plan["BLOCK_M"], plan["BLOCK_N"], plan["CHUNK"], plan["DOT"]) == (1, block_n, chunk, False)
    m_tiles, n_tiles, ksplit = plan["grid"]
    assert (m_tiles, n_tiles) == (1, 28672 // block_n) and ksplit == plan["ksplit"] > 1
    assert m_tiles * n_tiles * ksplit >= 132 * PROGRAMS_PER_SM
    assert (ksplit - 1) * plan["steps_per_split"] < plan["steps"] <= ksplit * plan["steps_per_split"]
    assert plan["steps_per_group"] * plan["CHUNK"] == 128 and plan["num_warps"] == 1
    p16 = codebook_gemm_plan(16, 28672, 8192, 4, None, sm_count=132, interpret=False)
    assert p16["DOT"] and p16["BLOCK_M"] == 16
    p16_fp32 = codebook_gemm_plan(16, 28672, 8192, 4, None, interpret=False, dtype=torch.float32)
    assert p16_fp32["DOT"] and p16_fp32["BLOCK_N"] < p16["BLOCK_N"]
    # split_k bounds the split; the group size bounds the step
    assert codebook_gemm_plan(1, 28672, 8192, 3, 128, interpret=False, split_k=2)["ksplit"] == 2
    assert codebook_gemm_plan(1, 64, 96, 3, 32, interpret=False)["CHUNK"] == 32
    assert codebook_gemm_plan(1, 64, 1, 3, None, interpret=False, split_k=5)["ksplit"] == 1


def test_counts():
    """Bytes: packed words, 2^bits fp16 entries per codebook, fp16 scales, x, y; one lookup per weight
    in the GPU kernel, one per weight and batch row on the LUT engine."""
    ops = count_codebook_ops(16, 28672, 8192, 3, 1, 128, act_bytes=2, scale_bytes=2, out_bytes=4)
    codes, codebook, scales = 4 * 28672 * packed_words(8192, 3), 2 * 8, 2 * 28672 * 64
    assert ops.bytes_moved == codes + codebook + scales + 2 * 16 * 8192 + 4 * 16 * 28672  # + x + y
    assert 4 * 28672 * packed_words(8192, 3) == 28672 * 8192 * 3 // 8  # 3 bits per weight exactly
    assert (ops.table_lookups, ops.engine_lookups, ops.macs) == (28672 * 8192, 16 * 28672 * 8192, 16 * 28672 * 8192)
    assert count_codebook_ops(1, 10, 64, 4).scale_muls == 0
    with pytest.raises(ValueError, match=r"bits must be one of \(2, 3, 4\), got 5"):
        count_codebook_ops(1, 10, 64, 5)
    with pytest.raises(ValueError, match=r"group_size must be None or a positive int dividing K = 64, got 48"):
        count_codebook_ops(1, 10, 64, 4, 1, 48)


# ------------------------------------------------------------------------------- bad input
def _good():
    x, packed, cb, sc = _case(2, 8, 64, 3, 8, 32, torch.float16, seed=0, integer=False)
    return {"x": x, "packed": packed, "codebook": cb, "bits": 3, "scales": sc, "group_size": 32}


@pytest.mark.parametrize("change,error,message", [
    ({"x": [[1.0]]}, TypeError, r"x must be a torch.Tensor, got list"),
    ({"x": torch.zeros((2, 64), dtype=torch.int8)}, TypeError, r"x must be float16/bfloat16/float32, got torch.int8"),
    ({"x": torch.zeros(64, dtype=torch.float16)}, ValueError,
     r"x must be a 2-D \(M, K\) matrix with K >= 1, got shape \(64,\)"),
    ({"bits": 5}, ValueError, r"bits must be one of \(2, 3, 4\), got 5"),
    ({"bits": True}, ValueError, r"bits must be one of \(2, 3, 4\), got True"),
    ({"packed": torch.zeros((8, 6), dtype=torch.uint8)}, TypeError, r"packed must have dtype torch.int32"),
    ({"packed": torch.zeros((8, 5), dtype=torch.int32)}, ValueError,
     r"packed has 5 words per row, but K = 64 \(x's columns\) at 3 bits needs ceil\(K \* bits / 32\) = 6"),
    ({"codebook": torch.zeros((1, 8), dtype=torch.float32)}, TypeError, r"codebook must have dtype torch.float16"),
    ({"codebook": torch.zeros((1, 16), dtype=torch.float16)}, ValueError,
     r"codebook must be \(N / rows_per_codebook, 2\^bits\) with N = 8 and 2\^bits = 8, got shape \(1, 16\)"),
    ({"codebook": torch.zeros((3, 8), dtype=torch.float16)}, ValueError, r"codebook must be \(N / rows_per_codebook"),
    ({"codebook": torch.full((1, 8), float("inf"), dtype=torch.float16)}, ValueError, r"codebook must be finite"),
    ({"scales": torch.zeros((8, 2), dtype=torch.float64)}, TypeError,
     r"scales must be float16/float32, got torch.float64"),
    ({"scales": torch.zeros((8, 3), dtype=torch.float16)}, ValueError,
     r"scales must have shape \(N, K / group_size\) = \(8, 2\), got \(8, 3\)"),
    ({"group_size": 48}, ValueError,
     r"group_size must be a positive int dividing K = 64 when scales are given, got 48"),
    ({"group_size": 16, "scales": torch.zeros((8, 4), dtype=torch.float16)}, ValueError,
     r"group_size 16 must be a multiple of 32 when a row has several groups"),
    ({"scales": None}, ValueError, r"group_size = 32 was given without scales"),
    ({"split_k": 0}, ValueError, r"split_k must be None \(automatic\) or a positive int, got 0"),
])
def test_bad_input_is_rejected_with_a_message_naming_the_argument(change, error, message):
    args = _good() | change
    split_k = args.pop("split_k", None)
    x, packed, cb, bits = args.pop("x"), args.pop("packed"), args.pop("codebook"), args.pop("bits")
    with pytest.raises(error, match=message):
        codebook_gemm(x, packed, cb, bits, split_k=split_k, **args)


def test_bad_input_to_the_reference_and_the_weight_wrapper():
    args = _good()
    with pytest.raises(ValueError, match=r"packed has 5 words per row"):
        codebook_gemm_reference(args["x"], torch.zeros((8, 5), dtype=torch.int32), args["codebook"], 3)
    with pytest.raises(TypeError, match=r"weight must be a kernels.codebook_quant.CodebookWeight, got dict"):
        codebook_gemm_weight(args["x"], {})
    with pytest.raises(ValueError, match=r"dtype must be float16/bfloat16/float32, got torch.int8"):
        codebook_gemm_plan(1, 8, 64, 3, dtype=torch.int8)
    with pytest.raises(ValueError, match=r"group_size 48 must be a multiple of 32"):
        codebook_gemm_plan(1, 8, 96, 3, 48)


@pytest.mark.skipif(TRITON_INTERPRET, reason="the interpreter is on: CPU launches are allowed")
def test_cpu_operands_without_the_interpreter_are_refused():
    args = _good()
    with pytest.raises(RuntimeError, match=r"the operands are on cpu but TRITON_INTERPRET=1 is not set"):
        codebook_gemm(args["x"], args["packed"], args["codebook"], 3)


# ------------------------------------------------------------------------------- GPU
#: the cases bench/test_bench_codebook_gemm.py's sm90_launches() compiles in advance: NUPES's
#: format at every bit width, activation dtype and form, per-row codebooks without scales at 3 bits
GPU_N, GPU_K, GPU_GROUP = 3000, 1024, 128
GPU_CASES = [(b, dtype, M, True) for b in (2, 3, 4) for dtype in (torch.float16, torch.bfloat16, torch.float32)
             for M in (1, 16)] + [(3, torch.float16, M, False) for M in (1, 4, 16)]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_decode_shapes():
    """The compiled kernel at 3000 x 1024 layers: integer operands exact for split 1 and automatic,
    float operands within the bound (one item for all cases: the GPU check's plan counts items)."""
    for b, dtype, M, nupes_format in GPU_CASES:
        R, g = (GPU_N, GPU_GROUP) if nupes_format else (1, None)
        for integer in (True, False):
            x, packed, cb, sc = _case(M, GPU_N, GPU_K, b, R, g, dtype, seed=b * M, integer=integer, device="cuda")
            want = codebook_gemm_reference(x, packed, cb, b, scales=sc, group_size=g)
            tol = codebook_tolerance(x, packed, cb, b, scales=sc, group_size=g)
            for split_k in (1, None):
                y = codebook_gemm(x, packed, cb, b, scales=sc, group_size=g, split_k=split_k).double()
                case = (b, dtype, M, nupes_format, integer, split_k)
                if integer:
                    assert torch.equal(y, want), case
                else:
                    assert bool(((y - want).abs() <= tol).all()), case
