"""
Hadamard rotations beyond powers of two: 12/20/28 x 2^k, block-diagonal, and fused rotate+quantise
==================================================================================================

kernels/hadamard.py transforms rows of length 2**L. Real hidden sizes are often not powers of two
(all-MiniLM-L6-v2: 384 = 12 * 32 and 1536 = 12 * 128; Llama-2: 11008 = 43 * 256), and QuaRot /
HALO rotate them with ``H_m (x) H_{2^k}``, a small Hadamard matrix of order m = 12, 20, 28 (Paley)
Kronecker the Sylvester one. This module adds, each as a Triton kernel with a torch reference:

* :func:`paley_hadamard` (orders 12, 20, 28) and :func:`dense_hadamard` (``H_m (x) H_{2^k}``);
* :func:`hadamard_transform`: ``y = x @ H_n / sqrt(n)`` along the last dimension for
  ``n = m * 2**k``, m in {1, 12, 20, 28}, in fp32 / fp16 / bf16;
* :func:`block_hadamard`: the block-diagonal rotation ``diag(H_b, ..., H_b) / sqrt(b)``, each
  contiguous block of b = 16..256 elements times the constant matrix with ``tl.dot``;
* :func:`rotate_quantize`: a block-diagonal (or full power-of-two) rotation fused with FP8 e4m3 or
  INT8 quantisation, tensorwise or rowwise scales.

The Paley matrices
------------------
Paley's second construction: for a prime power q = 1 (mod 4), the Jacobsthal matrix
``Q[i, j] = chi(a_i - a_j)`` over GF(q) (chi the quadratic character) is symmetric, the conference
matrix ``C = [[0, 1^T], [1, Q]]`` satisfies ``C C^T = q I``, and
``H = C (x) [[1, -1], [-1, -1]] + I (x) [[1, 1], [1, -1]]`` is a *symmetric* Hadamard matrix of
order ``2 (q + 1)``: q = 5, 9, 13 give 12, 20, 28 (GF(9) = GF(3)[i] / (i^2 + 1)). Symmetric on
purpose: like the Sylvester H, ``H_n / sqrt(n)`` is then orthogonal *and* an involution, so the same
call rotates and un-rotates. (Paley's first construction, q = 3 mod 4, gives skew matrices whose
square is not n I.)

The 12 x 2^k transform
----------------------
Row index ``i = a * p + b`` (a < m, b < p = 2**k), so ``(H_m (x) H_p)[i, j] = H_m[a, a'] H_p[b, b']``
and, with X the row viewed as an (m, p) matrix, ``Y = H_m^T X H_p``: butterflies along p (the FWHT,
in registers, in the same stage order as kernels.hadamard) and then a dense m x m mix across the m
segments. The kernel holds ``ROWS`` rows as an (ROWS, M_PAD, p) tile (M_PAD = 16 or 32, padded rows
masked to zero), runs the butterflies on the (ROWS * M_PAD, p) view (``kernels.hadamard.fwht_rows_t``,
one ``tl.split`` / ``tl.join`` pass per stage, which leaves the tile transposed), and mixes with one
``tl.dot`` of that (ROWS * p, M_PAD) transpose by the zero-padded H_m (fp32,
``input_precision="ieee"``), so every element is read once and written once. Rows whose tile would exceed FUSED_MAX_ELEMS take two
launches: ``kernels.hadamard.fwht`` of an fp32 copy (unnormalised), then the mixing kernel on
column chunks.

Numerics: the butterflies are fp32 sums of two numbers (exact order, as in kernels.hadamard), the
mix is an fp32 dot of m terms whose summation order is the dot's own (the interpreter's NumPy
matmul, the GPU's FMA chain), so the result equals :func:`hadamard_transform_reference`
(sequential mix, a = 0, 1, ...) only within fp32 summation error; for m = 1 it *is* the FWHT and
equal bit for bit. Tests state the bound.

Block-diagonal rotation
-----------------------
``block_hadamard(x, b)`` views x as (R, b) rows (R = numel / b) and multiplies a (BR, b) tile by the
unnormalised +-1 matrix H_b (exact in any dtype) with ``tl.dot`` accumulating in fp32, one BN-wide
column chunk of H_b at a time, then scales by 1/sqrt(b) and casts once. bf16 / fp16 inputs are
dotted in their own dtype on the GPU (tensor cores, exact +-1 products, fp32 sums); fp32 inputs,
and every input under the interpreter (its bf16 dot is unreliable, DESIGN.md), are dotted in fp32
with ``input_precision="ieee"``.

fp32 inputs with b >= 128 split that dot along K as well (``_block_config``): an fp32 ``"ieee"`` dot
is CUDA-core FMAs, each thread holding its rows and columns of both operands over the whole K, and
at K = 128 / 256 it spilled on sm_90 (9,192 / 29,128 B). Per BN-wide column chunk the kernel loads
K chunks of BK = 16 (the (BR, 16) slice of x and the (16, BN) slice of H_b) in a loop and
accumulates ``acc = tl.dot(x_k, h_k, acc)`` in fp32, chunks in order k = 0, 16, 32, ...: on the GPU
one FMA chain per output along k = 0 .. b-1; under the interpreter each chunk's NumPy product added
to the running sum. Either way a sum of b +-x terms in fp32, so the tests' bound (b levels of
additions, any order) holds unchanged. bf16 / fp16 keep the one dot over the whole K.

Fused rotate + quantise
-----------------------
``rotate_quantize(x, block, fmt, granularity)`` rotates each contiguous block of ``block`` elements
(``block=None``: the whole row, a power of two) with in-register butterflies (exactly
``hadamard_reference`` per block, in fp32), and quantises the rotated values:

* rowwise: one program holds whole rows, so the row's amax, its scale ``amax / qmax`` (fp32,
  ``div_rn``: correctly rounded like torch's division) and the codes come out of **one pass**: the
  input is read once and only the codes (1 byte) and scales are written;
* tensorwise: the amax needs every row first, so pass 1 rotates and writes only one amax per
  program (no atomics: the interpreter has none for some dtypes), the host reduces them and checks
  the scale, and pass 2 rotates again (recomputing is cheaper than storing an fp32 copy) and writes
  the codes.

Codes: INT8 is ``rint(clamp(x / scale, -127, 127))``, round half to even done in-kernel by adding
and subtracting 1.5 * 2**23 (exact for |v| <= 2**22), so the kernel emits int8 directly. FP8 e4m3 is
``saturating_cast(x / scale)``: on the GPU the kernel clamps to +-448 and casts in-kernel (round to
nearest even); under the interpreter, whose fp8 casts round wrongly (DESIGN.md), the kernel writes
the clamped fp32 quotient and the host casts it with ``kernels.fp8.fp8_saturating``, the same
operation. Either way the result equals :func:`rotate_quantize_reference` (``hadamard_reference``
per block in fp32, then ``kernels.fp8.quantize_fp8`` or the INT8 rule above) bit for bit.
A NaN or Inf input makes its amax Inf (the kernel maps NaN to Inf before the max), and an all-zero
tensor (row) has no scale: both raise ``ValueError`` naming the row, as kernels/fp8.py does.
"""

from __future__ import annotations

import contextlib
import math

import torch

from kernels._triton_env import COMPILE_ONLY, CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels.fp8 import FP8_E4M3_MAX, fp8_saturating
from kernels.hadamard import MAX_BLOCK, fwht, fwht_rows_t, hadamard_matrix, hadamard_reference

__all__ = [
    "BLOCK_SIZES",
    "FUSED_MAX_ELEMS",
    "INT8_QMAX",
    "PALEY_ORDERS",
    "ROTQ_MAX_ROW",
    "block_hadamard",
    "block_hadamard_reference",
    "dense_hadamard",
    "hadamard_transform",
    "hadamard_transform_reference",
    "paley_hadamard",
    "rotate_quantize",
    "rotate_quantize_reference",
    "split_size",
]

PALEY_ORDERS = (12, 20, 28)
BLOCK_SIZES = (16, 32, 64, 128, 256)
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
INT8_QMAX = 127  # symmetric: -128 never produced
#: Largest padded (M_PAD x p) tile of one row the fused 12/20/28 x 2^k kernel holds in registers.
FUSED_MAX_ELEMS = 16384
#: Longest padded row rotate_quantize holds in one program (rowwise needs the whole row).
ROTQ_MAX_ROW = 8192
_TILE = 4096 if not TRITON_INTERPRET else 2**14  # elements per program (interpreter: fewer, bigger)


# %%
# Paley matrices
# --------------


def _gf(q: int):
    """Elements of GF(q) for q in {5, 9, 13} as ints, with subtraction and the quadratic character."""
    if q in (5, 13):
        elems = list(range(q))

        def sub(a, b):
            return (a - b) % q

        def mul(a, b):
            return (a * b) % q
    elif q == 9:  # GF(3)[i] / (i^2 + 1): e = a + 3 b stands for a + b i
        elems = list(range(9))

        def sub(e, f):
            return ((e % 3 - f % 3) % 3) + 3 * ((e // 3 - f // 3) % 3)

        def mul(e, f):
            a1, b1, a2, b2 = e % 3, e // 3, f % 3, f // 3
            return ((a1 * a2 - b1 * b2) % 3) + 3 * ((a1 * b2 + a2 * b1) % 3)
    else:  # pragma: no cover - internal
        raise ValueError(q)
    squares = {mul(e, e) for e in elems if e != 0}

    def chi(e):
        return 0 if e == 0 else (1 if e in squares else -1)

    return elems, sub, chi


def paley_hadamard(m: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The symmetric Hadamard matrix of order m in {12, 20, 28} (Paley II, q = m/2 - 1; module docstring)."""
    if isinstance(m, bool) or m not in PALEY_ORDERS:
        raise ValueError(f"m must be one of {PALEY_ORDERS} (Paley II orders 2(q+1), q = 5, 9, 13), got {m!r}")
    q = m // 2 - 1
    elems, sub, chi = _gf(q)
    c = torch.zeros((q + 1, q + 1), dtype=torch.float64)
    c[0, 1:] = 1
    c[1:, 0] = 1
    for i, a in enumerate(elems):
        for j, b in enumerate(elems):
            c[i + 1, j + 1] = chi(sub(a, b))
    a2 = torch.tensor([[1.0, -1.0], [-1.0, -1.0]], dtype=torch.float64)
    b2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64)
    h = torch.kron(c, a2) + torch.kron(torch.eye(q + 1, dtype=torch.float64), b2)
    return h.to(dtype=dtype, device=device)


def split_size(n: int, name: str = "x.shape[-1]") -> tuple[int, int]:
    """n = m * p with m in {1, 12, 20, 28} and p a power of two: return (m, p), or raise naming ``name``."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"{name} must be an int, got {type(n).__name__}")
    for m in (1,) + PALEY_ORDERS:
        if n >= m and n % m == 0:
            p = n // m
            if p & (p - 1) == 0 and (m > 1 or p >= 2):
                return m, p
    raise ValueError(
        f"{name} = {n} is not a supported Hadamard size: it must be 2**k (k >= 1) or 12, 20 or 28 "
        f"times 2**k (k >= 0)"
    )


def dense_hadamard(n: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The dense, unnormalised H_n = H_m (x) H_p (m in {1, 12, 20, 28}, p = 2**k); symmetric, H H = n I."""
    m, p = split_size(n, "n")
    hp = hadamard_matrix(p, torch.float64)
    h = hp if m == 1 else torch.kron(paley_hadamard(m), hp)
    return h.to(dtype=dtype, device=device)


# %%
# Shared input checks
# -------------------


def _check_float_input(x, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        hint = " (for an exact int32 transform use kernels.hadamard.fwht)" if x.dtype == torch.int32 else ""
        raise TypeError(f"{name} must have dtype float32, float16 or bfloat16, got {x.dtype}{hint}")
    if x.dim() < 1:
        raise ValueError(f"{name} must have at least one dimension (the transform runs along the last), got a scalar")


def _check_device(x, fn: str) -> None:
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            f"x is on cpu but TRITON_INTERPRET=1 is not set: {fn}'s compiled Triton kernel needs a CUDA "
            "tensor; move it to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"x is on {x.device}; {fn} runs on cuda (or on cpu under TRITON_INTERPRET=1)")
    if x.numel() > 2**31 - 1:
        raise ValueError(f"x has {x.numel()} elements; {fn} indexes with int32 offsets (at most 2**31-1)")


def _check_normalize(normalize) -> None:
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")


def _device_ctx(x):
    return torch.cuda.device(x.device) if x.device.type == "cuda" else contextlib.nullcontext()


@triton.jit
def _store_cast(y_ptr, offs, y, mask, BF16_RNE: tl.constexpr):
    if BF16_RNE:
        # the interpreter truncates fp32 -> bf16; round to nearest even as the GPU does (see
        # kernels/hadamard.py; finite values only)
        bits = y.to(tl.uint32, bitcast=True)
        bits = bits + 0x7FFF + ((bits >> 16) & 1)
        out = (bits >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)
    else:
        out = y.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + offs, out, mask=mask)


# %%
# The 12/20/28 x 2^k transform
# ----------------------------
# Program (pid0, pid1) owns rows pid0*ROWS ... and, when DO_FWHT is off (the two-launch path), the
# column chunk pid1*P ... P-1 of each of the m segments (p_total elements apart).


@triton.jit
def kron_hadamard_kernel(
    x_ptr, h_ptr, y_ptr, T, n, p_total, scale,
    M: tl.constexpr, M_PAD: tl.constexpr, P: tl.constexpr, LOG_P: tl.constexpr, ROWS: tl.constexpr,
    DO_FWHT: tl.constexpr, BF16_RNE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    chunk = tl.program_id(axis=1)
    r = pid * ROWS + tl.arange(0, ROWS)
    a = tl.arange(0, M_PAD)
    b = chunk * P + tl.arange(0, P)
    offs = r[:, None, None] * n + a[None, :, None] * p_total + b[None, None, :]
    mask = (r < T)[:, None, None] & (a < M)[None, :, None]
    x = tl.load(x_ptr + offs, mask=mask, other=0).to(tl.float32)
    # Y[a', b] = sum_a H[a, a'] X[a, b]: as a matmul, (ROWS * P, M_PAD) @ H (zero-padded)
    if DO_FWHT:
        # the butterflies leave the tile transposed, (P, ROWS * M_PAD): already the dot's order per row
        xt = fwht_rows_t(tl.reshape(x, (ROWS * M_PAD, P)), ROWS * M_PAD, P, LOG_P)
        xt = tl.reshape(tl.permute(tl.reshape(xt, (P, ROWS, M_PAD)), (1, 0, 2)), (ROWS * P, M_PAD))
    else:
        xt = tl.reshape(tl.permute(x, (0, 2, 1)), (ROWS * P, M_PAD))
    hi = tl.arange(0, M_PAD)
    h = tl.load(h_ptr + hi[:, None] * M_PAD + hi[None, :])
    yt = tl.dot(xt, h, input_precision="ieee")
    y = tl.permute(tl.reshape(yt, (ROWS, P, M_PAD)), (0, 2, 1)) * scale
    _store_cast(y_ptr, offs, y, mask, BF16_RNE)


_H_CACHE: dict = {}


def _padded_paley(m: int, m_pad: int, device) -> torch.Tensor:
    key = (m, m_pad, str(device))
    if key not in _H_CACHE:
        h = torch.zeros((m_pad, m_pad), dtype=torch.float32)
        h[:m, :m] = paley_hadamard(m, torch.float32)
        _H_CACHE[key] = h.to(device)
    return _H_CACHE[key]


def _kron_warps(elems: int, m_pad: int, dtype: torch.dtype) -> int:
    """num_warps of the one-launch ``kron_hadamard_kernel`` for a (ROWS * M_PAD * P = elems) tile.

    4 up to 2048 elements, 8 up to 4096, else 16; but fp32 input with M_PAD = 32 over 8192 elements
    (20 or 28 x 512) takes 8: at 16 warps (128 registers a thread at most) its K = 32 FMA dot spilled
    104 / 112 B on sm_90 (bench/sm90.py), at 8 it uses 220 / 224 registers and spills nothing. (bf16 /
    fp16 at that size, 101 registers, and fp32 with M_PAD = 16, 82, stay at 16 warps; splitting the
    dot by output columns spilled more, 404 B.)
    """
    if dtype == torch.float32 and m_pad == 32 and elems > 8192:
        return 8
    return 4 if elems <= 2048 else 8 if elems <= 4096 else 16


def hadamard_transform(x: torch.Tensor, normalize: bool = True, *, max_fused_elems: int | None = None) -> torch.Tensor:
    """``x @ H_n`` (``/ sqrt(n)`` when ``normalize``) along the last dim, n = m * 2**k, m in {1, 12, 20, 28}.

    float32 / float16 / bfloat16 in, same dtype out, computed in fp32. Powers of two go to
    ``kernels.hadamard.fwht`` (bit-exact to its reference); m > 1 runs the fused butterfly + dot
    kernel (module docstring). ``H_n`` is symmetric, so the normalised transform is its own inverse.
    ``max_fused_elems`` (default FUSED_MAX_ELEMS) bounds the padded (M_PAD x p) tile of the one-launch
    path; longer rows take two launches (tests lower it to exercise that path on small inputs).
    A non-contiguous x is copied first.
    """
    _check_float_input(x)
    _check_normalize(normalize)
    n = x.shape[-1]
    m, p = split_size(n)
    if p > MAX_BLOCK * MAX_BLOCK:
        raise ValueError(f"x.shape[-1] = {n} = {m} * {p}: the power-of-two factor exceeds {MAX_BLOCK * MAX_BLOCK}")
    fused_max = FUSED_MAX_ELEMS if max_fused_elems is None else max_fused_elems
    if isinstance(fused_max, bool) or not isinstance(fused_max, int) or fused_max < 1:
        raise ValueError(f"max_fused_elems must be a positive int, got {max_fused_elems!r}")
    _check_device(x, "hadamard_transform")
    if m == 1:
        return fwht(x, normalize=normalize)
    x = x.contiguous()
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    T = x.numel() // n
    m_pad = 16 if m <= 16 else 32
    h = _padded_paley(m, m_pad, x.device)
    scale = 1.0 / math.sqrt(n) if normalize else 1.0
    bf16_rne = TRITON_INTERPRET and x.dtype == torch.bfloat16
    with _device_ctx(x):
        if m_pad * p <= fused_max or p < 16:  # (the chunked mix needs chunks of >= 16 columns)
            rows_min = max(1, 16 // p)  # tl.dot needs >= 16 rows: ROWS * p >= 16
            rows = max(rows_min, min(_TILE // (m_pad * p), triton.next_power_of_2(T)))
            elems = rows * m_pad * p
            warps = _kron_warps(elems, m_pad, x.dtype)
            kron_hadamard_kernel[(triton.cdiv(T, rows), 1)](
                x, h, out, T, n, p, scale, M=m, M_PAD=m_pad, P=p, LOG_P=p.bit_length() - 1, ROWS=rows,
                DO_FWHT=True, BF16_RNE=bf16_rne, num_warps=warps)
        else:
            # two launches: the FWHT of each segment into an fp32 buffer, then the mix on column chunks
            inner = fwht(x.reshape(T * m, p).to(torch.float32), normalize=False)
            chunk = min(p, max(16, _TILE // m_pad))
            kron_hadamard_kernel[(T, p // chunk)](
                inner, h, out, T, n, p, scale, M=m, M_PAD=m_pad, P=chunk, LOG_P=0, ROWS=1,
                DO_FWHT=False, BF16_RNE=bf16_rne, num_warps=8)
    return out


def hadamard_transform_reference(x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Plain torch, same contract as :func:`hadamard_transform`: FWHT of each length-p segment in fp32
    (``hadamard_reference``), then the m x m mix as sequential fp32 sums a = 0, 1, ..., then the scale."""
    _check_float_input(x)
    _check_normalize(normalize)
    n = x.shape[-1]
    m, p = split_size(n)
    if m == 1:
        return hadamard_reference(x, normalize=normalize)
    xf = x.to(torch.float32).reshape(-1, m, p)
    if p > 1:
        xf = hadamard_reference(xf, normalize=False)
    h = paley_hadamard(m, torch.float32, xf.device)
    y = torch.zeros_like(xf)
    for a in range(m):
        y = y + h[a][None, :, None] * xf[:, a : a + 1, :]
    if normalize:
        y = y * (1.0 / math.sqrt(n))
    return y.to(x.dtype).reshape(x.shape)


# %%
# Block-diagonal rotation with tl.dot
# -----------------------------------


@triton.jit
def block_hadamard_kernel(
    x_ptr, h_ptr, y_ptr, R, scale,
    BLOCK: tl.constexpr, BR: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, DOT_FP32: tl.constexpr,
    BF16_RNE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    r = pid * BR + tl.arange(0, BR)
    k = tl.arange(0, BLOCK)
    rmask = (r < R)[:, None]
    if BK == BLOCK:  # one dot over the whole block per column chunk, x loaded once
        x = tl.load(x_ptr + r[:, None] * BLOCK + k[None, :], mask=rmask, other=0)
        if DOT_FP32:
            x = x.to(tl.float32)
        for c in tl.static_range(BLOCK // BN):
            j = c * BN + tl.arange(0, BN)
            h = tl.load(h_ptr + k[:, None] * BLOCK + j[None, :])  # +-1, in the dot's input dtype
            if DOT_FP32:
                acc = tl.dot(x, h, input_precision="ieee")
            else:
                acc = tl.dot(x, h)  # bf16 / fp16 operands, fp32 accumulation
            _store_cast(y_ptr, r[:, None] * BLOCK + j[None, :], acc * scale, rmask, BF16_RNE)
    else:  # fp32, split along K (module docstring): a loop (not unrolled) over BK-wide chunks
        tl.static_assert(DOT_FP32, "the K-split path is for fp32 dots")
        kk = tl.arange(0, BK)
        for c in tl.static_range(BLOCK // BN):
            j = c * BN + tl.arange(0, BN)
            acc = tl.zeros((BR, BN), dtype=tl.float32)
            for kc in range(BLOCK // BK):
                kb = kc * BK + kk
                xk = tl.load(x_ptr + r[:, None] * BLOCK + kb[None, :], mask=rmask, other=0).to(tl.float32)
                hk = tl.load(h_ptr + kb[:, None] * BLOCK + j[None, :])
                acc = tl.dot(xk, hk, acc, input_precision="ieee")
            _store_cast(y_ptr, r[:, None] * BLOCK + j[None, :], acc * scale, rmask, BF16_RNE)


def _check_block(block, n: int, allowed=BLOCK_SIZES, name: str = "block") -> int:
    if isinstance(block, bool) or not isinstance(block, int):
        raise TypeError(f"{name} must be an int, got {type(block).__name__}")
    if block not in allowed:
        lo, hi = allowed[0], allowed[-1]
        raise ValueError(f"{name} must be a power of two in {lo}..{hi}, got {block}")
    if n % block:
        raise ValueError(f"{name} = {block} does not divide x.shape[-1] = {n}: the rotation is block-diagonal "
                         "over contiguous blocks of the last dimension")
    return block


#: fp32 blocks from this size on split the dot along K, in chunks of _BLOCK_BK (module docstring)
_BLOCK_SPLIT_K = 128
_BLOCK_BK = 16


def _block_config(block: int, dtype: torch.dtype, R: int) -> tuple[int, int, int, int]:
    """(BR, BN, BK, num_warps) of ``block_hadamard_kernel`` for this block size and input dtype.

    bf16 / fp16 on the GPU: BR = 64, BN = min(block, 64), BK = block, 4 warps up to block 64, else 8.
    fp32 at block >= 128: BR = BN = 64, BK = 16, 8 warps (sm_90, bench/sm90.py: 72 / 80 registers at
    block 128 / 256 and 16 KiB of shared memory, no spills; one K = block dot spilled 9,192 / 29,128 B).
    The interpreter takes bigger row tiles (fewer programs) and the whole block as one column chunk,
    except on the fp32 K-split path, whose BN and BK it shares with the GPU so that the tests run it.
    """
    split = dtype == torch.float32 and block >= _BLOCK_SPLIT_K
    if TRITON_INTERPRET:
        br = max(16, min(2**14 // block, triton.next_power_of_2(R)))
        return (br, 64, _BLOCK_BK, 4) if split else (br, block, block, 4)
    if split:
        return 64, 64, _BLOCK_BK, 8
    return 64, min(block, 64), block, 4 if block <= 64 else 8


def block_hadamard(x: torch.Tensor, block: int) -> torch.Tensor:
    """Block-diagonal normalised rotation: every contiguous block of ``block`` elements of the last dim
    times ``H_block / sqrt(block)`` (block a power of two in 16..256 dividing x.shape[-1]).

    float32 / float16 / bfloat16, same dtype out; fp32 accumulation (module docstring; fp32 at block >= 128
    sums over K chunks of 16, in order).
    """
    _check_float_input(x)
    _check_block(block, x.shape[-1])
    _check_device(x, "block_hadamard")
    x = x.contiguous()
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    R = x.numel() // block
    dot_fp32 = TRITON_INTERPRET or x.dtype == torch.float32
    h = hadamard_matrix(block, torch.float32 if dot_fp32 else x.dtype, x.device)
    br, bn, bk, warps = _block_config(block, x.dtype, R)
    with _device_ctx(x):
        block_hadamard_kernel[(triton.cdiv(R, br),)](
            x, h, out, R, 1.0 / math.sqrt(block), BLOCK=block, BR=br, BN=bn, BK=bk, DOT_FP32=dot_fp32,
            BF16_RNE=TRITON_INTERPRET and x.dtype == torch.bfloat16, num_warps=warps)
    return out


def block_hadamard_reference(x: torch.Tensor, block: int) -> torch.Tensor:
    """Plain torch, same contract as :func:`block_hadamard`: fp32 matmul by H_block, scale, cast."""
    _check_float_input(x)
    _check_block(block, x.shape[-1])
    h = hadamard_matrix(block, torch.float32, x.device)
    y = (x.to(torch.float32).reshape(-1, block) @ h) * (1.0 / math.sqrt(block))
    return y.to(x.dtype).reshape(x.shape)


# %%
# Fused rotate + quantise
# -----------------------
# MODE 0: rotate, store one amax per program (tensorwise pass 1). MODE 1: rotate, quantise with the
# scale at scale_ptr[0] (tensorwise pass 2). MODE 2: rotate, per-row amax and scale, quantise
# (rowwise, one pass). The tile is (ROWS, NB, B): NB blocks of B (NB padded to a power of two).


@triton.jit
def rotate_quantize_kernel(
    x_ptr, q_ptr, amax_ptr, scale_ptr, T, n, rot_scale, qmax,
    NB: tl.constexpr, B: tl.constexpr, LOG_B: tl.constexpr, ROWS: tl.constexpr,
    MODE: tl.constexpr, INT8: tl.constexpr, CAST_FP8: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    r = pid * ROWS + tl.arange(0, ROWS)
    col = tl.arange(0, NB * B)  # block col // B, element col % B
    offs = r[:, None] * n + col[None, :]
    rmask = r < T
    mask = rmask[:, None] & (col < n)[None, :]
    x = tl.load(x_ptr + offs, mask=mask, other=0).to(tl.float32)
    # rotated and scaled, in the butterflies' own order (B, ROWS * NB), then as the (ROWS, NB * B) tile
    xt = fwht_rows_t(tl.reshape(x, (ROWS * NB, B)), ROWS * NB, B, LOG_B) * rot_scale
    x = tl.reshape(tl.permute(tl.reshape(xt, (B, ROWS, NB)), (1, 2, 0)), (ROWS, NB * B))
    if MODE != 1:
        # the amax is taken in the butterflies' order (a max does not care which); taken from the
        # (ROWS, NB * B) tile, Triton converts that tile into a second layout as well (sm_90, B = 128:
        # 48 registers and 16 KiB of shared memory, not 37 and 8 KiB). No mask needed: masked-off
        # loads are 0 and fill whole blocks (padding) or whole rows (past T), which rotate to exactly 0.
        mag = tl.where(xt == xt, tl.abs(xt), float("inf"))  # noqa: PLR0124  (NaN counts as Inf: the host refuses it)
        row_amax = tl.max(tl.reshape(tl.permute(tl.reshape(mag, (B, ROWS, NB)), (1, 0, 2)), (ROWS, B * NB)), axis=1)
        if MODE == 0:
            tl.store(amax_ptr + pid, tl.max(row_amax, axis=0))
    if MODE != 0:
        if MODE == 1:
            s = tl.load(scale_ptr)
        else:
            row_scale = tl.math.div_rn(row_amax, tl.zeros_like(row_amax) + qmax)
            tl.store(scale_ptr + r, row_scale, mask=rmask)
            s = tl.where(rmask, row_scale, 1.0)[:, None]  # rows past T: any non-zero divisor
        v = tl.math.div_rn(x, s + tl.zeros_like(x))
        v = tl.minimum(tl.maximum(v, -qmax), qmax)
        if INT8:
            # round half to even: adding 1.5 * 2**23 leaves the integer part in the low mantissa bits
            v = (v + 12582912.0) - 12582912.0
            tl.store(q_ptr + offs, v.to(tl.int8), mask=mask)
        elif CAST_FP8:
            tl.store(q_ptr + offs, v.to(tl.float8e4nv), mask=mask)
        else:
            tl.store(q_ptr + offs, v, mask=mask)  # fp32; the host casts (interpreter)


_FMTS = {"e4m3": FP8_E4M3_MAX, "int8": float(INT8_QMAX)}


def _check_rotq_args(x, block, fmt, granularity) -> tuple[int, int]:
    _check_float_input(x)
    n = x.shape[-1]
    if fmt not in _FMTS:
        raise ValueError(f"fmt must be 'e4m3' or 'int8', got {fmt!r}")
    if granularity not in ("tensorwise", "rowwise"):
        raise ValueError(f"granularity must be 'tensorwise' or 'rowwise', got {granularity!r}")
    if block is None:
        if n < 2 or n & (n - 1):
            raise ValueError(f"block=None (a full rotation) needs x.shape[-1] a power of two >= 2, got {n}; "
                             "for 12/20/28 x 2**k use hadamard_transform, then quantise")
        block = n
    else:
        allowed = tuple(2**i for i in range(1, ROTQ_MAX_ROW.bit_length()))
        _check_block(block, n, allowed)
    nb_pad = triton.next_power_of_2(n // block) if n else 1
    if nb_pad * block > ROTQ_MAX_ROW:
        raise ValueError(f"x.shape[-1] = {n} is too long: rotate_quantize holds a whole row (padded to "
                         f"{nb_pad * block}) in one program, at most {ROTQ_MAX_ROW} elements")
    if x.numel() == 0:
        raise ValueError("x is empty: no amax, no scale")
    return n, block


def _check_amax(amax: torch.Tensor, what: str) -> None:
    bad = ~torch.isfinite(amax)
    if bool(bad.any()):
        where = "" if amax.dim() == 0 else f" (first at row {int(bad.reshape(-1).nonzero()[0])})"
        raise ValueError(f"{what} amax is NaN or Inf{where}: the input holds non-finite values, no scale exists")
    zero = amax == 0
    if bool(zero.any()):
        where = "" if amax.dim() == 0 else f" (first at row {int(zero.reshape(-1).nonzero()[0])})"
        raise ValueError(f"{what} amax is 0{where}: an all-zero input has no scale")


def rotate_quantize(x: torch.Tensor, block: int | None = None, fmt: str = "e4m3",
                    granularity: str = "tensorwise") -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate the last dim block-diagonally by ``H_block / sqrt(block)`` (``block=None``: the whole row,
    a power of two) and quantise: returns ``(q, scale)`` with ``rotated ~ q * scale``.

    ``fmt``: ``"e4m3"`` (q is torch.float8_e4m3fn, saturating) or ``"int8"`` (q int8 in -127..127).
    ``granularity``: ``"tensorwise"`` (scale is a 0-d float32 tensor) or ``"rowwise"`` (scale has
    shape x.shape[:-1] + (1,)). scale = amax / qmax (qmax 448 or 127). Equal bit for bit to
    :func:`rotate_quantize_reference` (module docstring).
    """
    n, block = _check_rotq_args(x, block, fmt, granularity)
    _check_device(x, "rotate_quantize")
    x = x.contiguous()
    T = x.numel() // n
    nb = triton.next_power_of_2(n // block)
    rows = max(1, min(_TILE // (nb * block), triton.next_power_of_2(T)))
    elems = rows * nb * block
    warps = 4 if elems <= 1024 else 8 if elems <= 4096 else 16
    grid = (triton.cdiv(T, rows),)
    qmax = _FMTS[fmt]
    is_int8 = fmt == "int8"
    cast_fp8 = not is_int8 and not TRITON_INTERPRET
    q_dtype = torch.int8 if is_int8 else (torch.float8_e4m3fn if cast_fp8 else torch.float32)
    q = torch.empty(x.shape, dtype=q_dtype, device=x.device)
    rot_scale = 1.0 / math.sqrt(block)
    consts = {"NB": nb, "B": block, "LOG_B": block.bit_length() - 1, "ROWS": rows, "INT8": is_int8,
              "CAST_FP8": cast_fp8, "num_warps": warps}
    with _device_ctx(x):
        if granularity == "rowwise":
            scale = torch.empty(T, dtype=torch.float32, device=x.device)
            rotate_quantize_kernel[grid](x, q, scale, scale, T, n, rot_scale, qmax, MODE=2, **consts)
            if not COMPILE_ONLY:  # (bench/sm90.py: the launch only compiled, scale is unwritten)
                _check_amax(scale, "rowwise")  # scale = amax / qmax: Inf / 0 exactly where amax is
            scale = scale.reshape(x.shape[:-1] + (1,))
        else:
            partial = torch.empty(grid[0], dtype=torch.float32, device=x.device)
            rotate_quantize_kernel[grid](x, q, partial, partial, T, n, rot_scale, qmax, MODE=0, **consts)
            amax = partial.amax()
            if not COMPILE_ONLY:  # (bench/sm90.py: pass 1 only compiled, partial is unwritten)
                _check_amax(amax, "tensorwise")
            scale = (amax / qmax).to(torch.float32)
            rotate_quantize_kernel[grid](x, q, partial, scale.reshape(1), T, n, rot_scale, qmax, MODE=1, **consts)
    if not is_int8 and not cast_fp8:
        q = fp8_saturating(q, "e4m3")  # interpreter: the host does the cast (values already clamped)
    return q, scale


def rotate_quantize_reference(x: torch.Tensor, block: int | None = None, fmt: str = "e4m3",
                              granularity: str = "tensorwise") -> tuple[torch.Tensor, torch.Tensor]:
    """Plain torch, same contract as :func:`rotate_quantize`: ``hadamard_reference`` of each block in
    fp32, then ``kernels.fp8.quantize_fp8`` (e4m3) or ``rint(clamp(v / scale, -127, 127))`` (int8)."""
    from kernels.fp8 import quantize_fp8

    n, block = _check_rotq_args(x, block, fmt, granularity)
    shape = x.shape
    rot = hadamard_reference(x.to(torch.float32).reshape(-1, n // block, block), normalize=True).reshape(-1, n)
    if fmt == "e4m3":
        q, scale = quantize_fp8(rot, "e4m3", granularity)
    else:
        amax = rot.abs().amax() if granularity == "tensorwise" else rot.abs().amax(dim=1, keepdim=True)
        _check_amax(amax.reshape(-1) if granularity == "rowwise" else amax, granularity)
        scale = (amax / float(INT8_QMAX)).to(torch.float32)
        q = torch.round((rot / scale).clamp(-INT8_QMAX, INT8_QMAX)).to(torch.int8)
    if granularity == "rowwise":
        scale = scale.reshape(shape[:-1] + (1,))
    return q.reshape(shape), scale
