"""
Bit-plane GEMM in Triton: C = A @ W with b-bit operands stored as packed bit-planes
===================================================================================

The GPU counterpart of the bit-serial engines (sim/bitserial.py: Stripes, Laconic, Bit Fusion).
A b-bit two's-complement integer is the sum of its bit-planes, the MSB plane weighing negative:

    x = -2^(b-1) x_{b-1} + sum_{i<b-1} 2^i x_i            (x_i in {0, 1}; unsigned: all positive)

so a dot product of a p_a-bit and a p_w-bit vector is a sum over plane pairs (i, j) of
+-2^(i+j) popcount(A_i AND W_j), where A_i, W_j are the planes packed 32 elements per word along
K. Two kernels compute it, both exact in int32:

(a) ``bitplane_gemm_popcount``: both operands as planes. For every output tile, every K word
    block and every plane pair (i, j): AND the words, popcount, sum along K, shift by i + j and
    add (subtract when exactly one of i, j is the MSB plane of a signed operand). The work grows
    with p_a * p_w: this is the bit-serial (Stripes with p_w = 1 per pass, Bit Fusion's 1-bit
    bricks) way of computing on a GPU, on CUDA cores (popc), not tensor cores.
(b) ``bitplane_gemm_dot``: int8 activations, weights as planes. Each K block of W is unpacked
    from its p_w planes into int8 in registers and fed to ``tl.dot`` (int8 tensor cores); the
    weight bytes read from memory shrink with p_w / 8, the math does not. Each packed word is
    loaded once and its 32 bits spread in registers, so the staged weight tile is BLOCK_K / 32
    words per plane and row: 16-24 KB of shared memory at 1-8 bits with the 64 x 64 x 64 tile
    (loading the word of every element instead staged 32 KB per plane: 272 KB at 8 bits, over
    sm_90's 227 KB). (a) walks the plane pairs in one runtime loop, one pair live at a time (64-72
    registers at any bit widths; unrolling all pairs spilled from 6 x 6 bits on).

Layout (``pack_bitplanes``): an (R, K) operand becomes an int32 tensor (bits, R, ceil(K/32));
word w of plane i of row r holds bit i of elements 32w..32w+31 of row r, element 32w+t in bit t
(int32 used as 32 raw bits; the tail of the last word is zero). W, being K x N, is packed as its
transpose (N, K): both operands are then K-contiguous rows of words.

Popcount: on the GPU the hardware ``popc`` instruction (libdevice ``__nv_popc``); in the Triton
interpreter (and on the GPU with ``popcount="swar"``) the classic SWAR bit count, written so that
arithmetic right shifts of int32 cannot leak sign bits (every shift is masked). Both return the
same integer; the GPU tests run both.

Exactness: every partial sum is an integer bounded by K * max|a| * max|w| (checked by the
launchers against 2^31 - 1), so kernel, torch reference and the cycle models agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton

if TRITON_INTERPRET:
    # the interpreter has no popc; the SWAR count is used there (and libdevice stays unimported)
    libdevice = None
else:
    from triton.language.extra import libdevice

__all__ = [
    "BitplaneOps",
    "bitplane_gemm",
    "bitplane_gemm_dot",
    "bitplane_gemm_popcount",
    "bitplane_gemm_reference",
    "count_bitplane_ops",
    "pack_bitplanes",
    "unpack_bitplanes",
]

WORD = 32  # elements per packed word
MAX_BITS = 8
METHODS = ("popcount", "dot")


# %% --------------------------------------------------------------------------- packing (host)
def _check_bits(name: str, bits) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_BITS:
        raise ValueError(f"{name} must be an integer in 1..{MAX_BITS}, got {bits!r}")


def _check_flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_int_matrix(name: str, x) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64):
        raise TypeError(f"{name} must have an integer dtype, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got a {x.dim()}-D tensor of shape {tuple(x.shape)}")


def _check_range(name: str, x: torch.Tensor, bits: int, signed: bool) -> None:
    if x.numel() == 0:
        return
    lo, hi = value_range(bits, signed)
    xmin, xmax = int(x.min()), int(x.max())
    if xmin < lo or xmax > hi:
        kind = "signed" if signed else "unsigned"
        raise ValueError(f"{name} holds values outside the {kind} {bits}-bit range [{lo}, {hi}] "
                         f"(min {xmin}, max {xmax})")


def pack_bitplanes(x: torch.Tensor, bits: int, signed: bool = True) -> torch.Tensor:
    """(R, K) integers of ``bits`` bits -> int32 planes (bits, R, ceil(K/32)), packed along K.

    Word w of plane i of row r holds bit i of x[r, 32w + t] in bit t. Values are checked against
    the signed (two's complement) or unsigned ``bits``-bit range.
    """
    _check_int_matrix("x", x)
    _check_bits("bits", bits)
    _check_flag("signed", signed)
    _check_range("x", x, bits, signed)
    r, k = x.shape
    kw = -(-k // WORD)
    u = x.to(torch.int64) & ((1 << bits) - 1)
    padded = torch.zeros((r, kw * WORD), dtype=torch.int64, device=x.device)
    padded[:, :k] = u
    padded = padded.view(r, kw, WORD)
    weights = torch.ones(WORD, dtype=torch.int64, device=x.device) << torch.arange(WORD, device=x.device)
    planes = torch.empty((bits, r, kw), dtype=torch.int32, device=x.device)
    for i in range(bits):
        words = (((padded >> i) & 1) * weights).sum(-1)  # 0 .. 2^32 - 1
        planes[i] = (words - ((words >> 31) << 32)).to(torch.int32)  # the same 32 bits as int32
    return planes


def unpack_bitplanes(planes: torch.Tensor, k: int, signed: bool = True) -> torch.Tensor:
    """The inverse of :func:`pack_bitplanes`: (bits, R, KW) int32 planes -> (R, K) int64 values."""
    _check_planes("planes", planes)
    _check_flag("signed", signed)
    bits, r, kw = planes.shape
    _check_k(k, kw, "planes")
    shifts = torch.arange(WORD, device=planes.device)
    bit = (planes.to(torch.int64)[..., None] >> shifts) & 1  # (bits, R, KW, 32)
    bit = bit.reshape(bits, r, kw * WORD)[:, :, :k]
    weight = torch.tensor([1 << i for i in range(bits)], dtype=torch.int64, device=planes.device)
    if signed:
        weight[-1] = -weight[-1]
    return (bit * weight[:, None, None]).sum(0)


def _check_planes(name: str, planes) -> None:
    if not isinstance(planes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(planes).__name__}")
    if planes.dtype != torch.int32:
        raise TypeError(f"{name} must be int32 packed bit-planes (pack_bitplanes), got {planes.dtype}")
    if planes.dim() != 3:
        raise ValueError(f"{name} must be 3-D (bits, rows, words), got shape {tuple(planes.shape)}")
    if not 1 <= planes.shape[0] <= MAX_BITS:
        raise ValueError(f"{name} must hold 1..{MAX_BITS} planes, got {planes.shape[0]}")


def _check_k(k, kw: int, name: str) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (the true K), got {k!r}")
    if -(-k // WORD) != kw:
        raise ValueError(f"k = {k} needs {-(-k // WORD)} words of {WORD} per row, but {name} has {kw}")


# %% --------------------------------------------------------------------------- popcount
@triton.jit
def _popcount_swar(x):
    """Bits set in each int32 word (0..32), by the SWAR method; every right shift is masked, so
    the arithmetic shift of a negative int32 cannot leak sign bits into the count."""
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + ((x >> 4) & 0x0F0F0F0F)) & 0x0F0F0F0F
    x = x + ((x >> 8) & 0x00FF00FF)
    x = x + ((x >> 16) & 0x0000FFFF)
    return x & 0x3F


@triton.jit
def _popcount(x, HW_POPC: tl.constexpr):
    if HW_POPC:
        return libdevice.popc(x)
    else:
        return _popcount_swar(x)


# %% --------------------------------------------------------------------------- kernel (a)
@triton.jit
def bitplane_popcount_kernel(
    a_ptr, w_ptr, c_ptr,
    M, N, KW,
    stride_ap, stride_am, stride_ak,
    stride_wp, stride_wn, stride_wk,
    stride_cm, stride_cn,
    PA: tl.constexpr, PW: tl.constexpr, A_SIGNED: tl.constexpr, W_SIGNED: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_W: tl.constexpr, HW_POPC: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_w = tl.arange(0, BLOCK_W)
    mask_m = offs_m < M
    mask_n = offs_n < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for w0 in range(0, KW, BLOCK_W):
        kmask = (w0 + offs_w) < KW
        a_base = a_ptr + offs_m[:, None] * stride_am + (w0 + offs_w)[None, :] * stride_ak
        w_base = w_ptr + offs_n[:, None] * stride_wn + (w0 + offs_w)[None, :] * stride_wk
        amask = mask_m[:, None] & kmask[None, :]
        wmask = mask_n[:, None] & kmask[None, :]
        # One runtime loop over the p_a * p_w plane pairs (not unrolled): one pair's
        # (BLOCK_M, BLOCK_N, BLOCK_W) AND + popcount is live at a time. Unrolling all pairs let
        # ptxas interleave them and spill at 255 registers from 6 x 6 bits on (bench/sm90.py).
        for pair in range(PA * PW):
            i = pair // PW
            j = pair % PW
            a_i = tl.load(a_base + i * stride_ap, mask=amask, other=0)  # (BLOCK_M, BLOCK_W)
            w_j = tl.load(w_base + j * stride_wp, mask=wmask, other=0)  # (BLOCK_N, BLOCK_W)
            both = a_i[:, None, :] & w_j[None, :, :]  # (BLOCK_M, BLOCK_N, BLOCK_W)
            cnt = tl.sum(_popcount(both, HW_POPC), axis=2) << (i + j)
            # the MSB plane of a signed operand weighs -2^(p-1): negative when exactly one is
            negative = ((i == PA - 1) & A_SIGNED) != ((j == PW - 1) & W_SIGNED)
            acc += tl.where(negative, -cnt, cnt)
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc, mask=mask_m[:, None] & mask_n[None, :])


# %% --------------------------------------------------------------------------- kernel (b)
@triton.jit
def bitplane_dot_kernel(
    a_ptr, w_ptr, c_ptr,
    M, N, K,
    stride_am, stride_ak,
    stride_wp, stride_wn, stride_wk,
    stride_cm, stride_cn,
    PW: tl.constexpr, W_SIGNED: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    KWB: tl.constexpr = BLOCK_K // 32  # words per plane row and K step
    tl.static_assert(BLOCK_K % 32 == 0, "BLOCK_K must be a multiple of the 32-element word")
    offs_k = tl.arange(0, BLOCK_K)
    offs_kw = tl.arange(0, KWB)
    mask_m = offs_m < M
    mask_n = offs_n < N
    KW = tl.cdiv(K, 32)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + offs_k
        kmask = ks < K
        a = tl.load(a_ptr + offs_m[:, None] * stride_am + ks[None, :] * stride_ak,
                    mask=mask_m[:, None] & kmask[None, :], other=0)  # int8 (BLOCK_M, BLOCK_K)
        # each packed word is loaded once, (KWB, BLOCK_N) per plane, and its 32 bits spread along a
        # new middle axis: reshaped to (BLOCK_K, BLOCK_N) that is row 32 * word + bit = element k.
        # (Loading word k // 32 for every k instead read each word 32 times and staged
        # (BLOCK_K, BLOCK_N) int32 per plane in shared memory: 272 KB at 8 bits, over sm_90's limit.)
        kw = k0 // 32 + offs_kw
        w_ptrs = w_ptr + offs_n[None, :] * stride_wn + kw[:, None] * stride_wk
        wmask = (kw < KW)[:, None] & mask_n[None, :]
        w = tl.zeros((KWB, 32, BLOCK_N), dtype=tl.int32)
        for j in tl.static_range(PW):
            words = tl.load(w_ptrs + j * stride_wp, mask=wmask, other=0)  # (KWB, BLOCK_N)
            bit = (words[:, None, :] >> tl.arange(0, 32)[None, :, None]) & 1  # the pack's tail bits are 0
            if W_SIGNED and (j == PW - 1):
                w -= bit << j
            else:
                w += bit << j
        w = tl.reshape(w, (BLOCK_K, BLOCK_N))
        acc = tl.dot(a, w.to(tl.int8), acc, out_dtype=tl.int32)
    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    tl.store(c_ptrs, acc, mask=mask_m[:, None] & mask_n[None, :])


# %% --------------------------------------------------------------------------- launchers
# Interpreter tiles are small (every program runs in NumPy); GPU tiles are fixed, not autotuned.
INTERP_POPCOUNT = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_W": 4}
GPU_POPCOUNT = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_W": 4, "num_warps": 4}
INTERP_DOT = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 32}
GPU_DOT = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "num_warps": 4, "num_stages": 3}


def _check_device(*tensors) -> None:
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise ValueError(f"all operands must be on one device, got {dev} and {t.device}")
    if dev.type == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError("operands are on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel "
                           "needs CUDA tensors")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"operands are on {dev}; the bit-plane kernels run on cuda (or cpu under TRITON_INTERPRET=1)")


def _check_accumulator(k: int, a_bits: int, a_signed: bool, w_bits: int, w_signed: bool) -> None:
    alo, ahi = value_range(a_bits, a_signed)
    wlo, whi = value_range(w_bits, w_signed)
    big = max(abs(x * y) for x in (alo, ahi) for y in (wlo, whi))
    # the popcount path's partial sums are bounded by K * sum_{i,j} 2^(i+j) <= K * 2^(pa+pw)
    bound = k * max(big, 1 << (a_bits + w_bits))
    if bound > 2**31 - 1:
        raise ValueError(f"K = {k} with {a_bits}-bit x {w_bits}-bit operands can overflow the int32 accumulator "
                         f"(bound {bound} > 2**31 - 1)")


def _popcount_flag(popcount: str) -> bool:
    if popcount not in ("auto", "hw", "swar"):
        raise ValueError(f"popcount must be 'auto', 'hw' or 'swar', got {popcount!r}")
    if popcount == "hw" and TRITON_INTERPRET:
        raise ValueError("popcount='hw' needs the compiled kernel on a GPU; the interpreter has no popc")
    return popcount == "hw" or (popcount == "auto" and not TRITON_INTERPRET)


def bitplane_gemm_popcount(a_planes: torch.Tensor, w_planes: torch.Tensor, k: int, *, a_signed: bool = True,
                           w_signed: bool = True, popcount: str = "auto") -> torch.Tensor:
    """C (M x N, int32) = A @ W^T-planes by AND + popcount over plane pairs, exactly.

    ``a_planes``: (p_a, M, KW) and ``w_planes``: (p_w, N, KW), both from :func:`pack_bitplanes`
    (W packed as its (N, K) transpose); ``k`` the true K (KW = ceil(k / 32)). ``popcount``:
    "auto" (hardware popc compiled, SWAR interpreted), "hw" or "swar".
    """
    _check_planes("a_planes", a_planes)
    _check_planes("w_planes", w_planes)
    _check_flag("a_signed", a_signed)
    _check_flag("w_signed", w_signed)
    if a_planes.shape[2] != w_planes.shape[2]:
        raise ValueError(f"a_planes and w_planes must have the same words per row, got {a_planes.shape[2]} "
                         f"and {w_planes.shape[2]}")
    _check_k(k, a_planes.shape[2], "a_planes")
    _check_device(a_planes, w_planes)
    hw = _popcount_flag(popcount)
    pa, m, kw = a_planes.shape
    pw, n, _ = w_planes.shape
    _check_accumulator(k, pa, a_signed, pw, w_signed)
    c = torch.empty((m, n), dtype=torch.int32, device=a_planes.device)
    if m == 0 or n == 0:
        return c
    cfg = dict(INTERP_POPCOUNT if TRITON_INTERPRET else GPU_POPCOUNT)
    grid = (triton.cdiv(m, cfg["BLOCK_M"]), triton.cdiv(n, cfg["BLOCK_N"]))
    bitplane_popcount_kernel[grid](
        a_planes, w_planes, c, m, n, kw,
        *a_planes.stride(), *w_planes.stride(), *c.stride(),
        PA=pa, PW=pw, A_SIGNED=a_signed, W_SIGNED=w_signed, HW_POPC=hw, **cfg)
    return c


def bitplane_gemm_dot(a: torch.Tensor, w_planes: torch.Tensor, *, w_signed: bool = True) -> torch.Tensor:
    """C (M x N, int32) = A @ W for int8 ``a`` (M x K) and W as (p_w, N, KW) planes, via tl.dot."""
    _check_int_matrix("a", a)
    if a.dtype != torch.int8:
        raise TypeError(f"a must have dtype torch.int8, got {a.dtype}")
    _check_planes("w_planes", w_planes)
    _check_flag("w_signed", w_signed)
    m, k = a.shape
    pw, n, kw = w_planes.shape
    if w_planes.shape[0] == MAX_BITS and not w_signed:
        raise ValueError("unsigned 8-bit weights do not fit the int8 tensor-core operand: use w_signed=True or <= 7 bits")
    if k == 0:
        raise ValueError("a must have K >= 1 columns, got 0")
    _check_k(k, kw, "w_planes")
    _check_device(a, w_planes)
    _check_accumulator(k, 8, True, pw, w_signed)
    c = torch.empty((m, n), dtype=torch.int32, device=a.device)
    if m == 0 or n == 0:
        return c
    cfg = dict(INTERP_DOT if TRITON_INTERPRET else GPU_DOT)
    grid = (triton.cdiv(m, cfg["BLOCK_M"]), triton.cdiv(n, cfg["BLOCK_N"]))
    bitplane_dot_kernel[grid](
        a, w_planes, c, m, n, k, *a.stride(), *w_planes.stride(), *c.stride(),
        PW=pw, W_SIGNED=w_signed, **cfg)
    return c


def bitplane_gemm(a: torch.Tensor, w: torch.Tensor, a_bits: int, w_bits: int, *, method: str = "popcount",
                  a_signed: bool = True, w_signed: bool = True) -> torch.Tensor:
    """C = A (M x K) @ W (K x N) with a_bits / w_bits operands: packs the planes, runs ``method``.

    "popcount": both operands as planes (kernel a); "dot": int8 A, W as planes (kernel b; A is
    range-checked against a_bits but sent as int8).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _check_int_matrix("a", a)
    _check_int_matrix("w", w)
    if a.shape[1] != w.shape[0]:
        raise ValueError(f"inner dimensions must match: a is (M, K) = {tuple(a.shape)} but w is (K, N) = "
                         f"{tuple(w.shape)}")
    _check_bits("a_bits", a_bits)
    _check_bits("w_bits", w_bits)
    _check_flag("a_signed", a_signed)
    _check_flag("w_signed", w_signed)
    _check_range("a", a, a_bits, a_signed)
    _check_range("w", w, w_bits, w_signed)
    w_planes = pack_bitplanes(w.t(), w_bits, w_signed)
    if method == "dot":
        if not a_signed and a_bits == MAX_BITS:
            raise ValueError("unsigned 8-bit activations do not fit int8: method='dot' needs a_bits <= 7 or signed")
        return bitplane_gemm_dot(a.to(torch.int8), w_planes, w_signed=w_signed)
    return bitplane_gemm_popcount(pack_bitplanes(a, a_bits, a_signed), w_planes, a.shape[1],
                                  a_signed=a_signed, w_signed=w_signed)


def bitplane_gemm_reference(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact int32 A @ W in plain torch (int64 on CPU; float64 on CUDA, exact below 2^53)."""
    _check_int_matrix("a", a)
    _check_int_matrix("w", w)
    if a.shape[1] != w.shape[0]:
        raise ValueError(f"inner dimensions must match: a is (M, K) = {tuple(a.shape)} but w is (K, N) = "
                         f"{tuple(w.shape)}")
    if a.device.type == "cuda":
        return (a.to(torch.float64) @ w.to(torch.float64)).to(torch.int32)
    return (a.to(torch.int64) @ w.to(torch.int64)).to(torch.int32)


# %% --------------------------------------------------------------------------- op counter
@dataclass(frozen=True)
class BitplaneOps:
    """Operations and ideal memory traffic of one bit-plane GEMM (each operand read once)."""

    ands: int  # 32-bit word ANDs (popcount path)
    popcounts: int  # 32-bit word popcounts (popcount path)
    shifts: int  # shift-accumulates of plane-pair partial sums, or bit extractions when unpacking
    adds: int  # integer adds: popcount sums along K and accumulates (popcount); unpack adds + MAC adds (dot)
    macs: int  # int8 multiply-accumulates on tensor cores (dot path)
    bytes: int  # operands read once + the int32 output written once
    dense_ops: int  # 2 M N K: the dense-equivalent operation count TOPS are quoted in


def count_bitplane_ops(m: int, n: int, k: int, a_bits: int, w_bits: int, method: str = "popcount") -> BitplaneOps:
    """Operation and byte counts of a (M x K) @ (K x N) bit-plane GEMM (see BitplaneOps)."""
    for name, v in (("m", m), ("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    _check_bits("a_bits", a_bits)
    _check_bits("w_bits", w_bits)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    kw = -(-k // WORD)
    w_bytes = 4 * w_bits * n * kw
    out = 4 * m * n
    if method == "popcount":
        words = m * n * kw * a_bits * w_bits
        pairs = m * n * a_bits * w_bits
        return BitplaneOps(ands=words, popcounts=words, shifts=pairs, adds=words + pairs, macs=0,
                           bytes=4 * a_bits * m * kw + w_bytes + out, dense_ops=2 * m * n * k)
    unpack = n * k * w_bits
    return BitplaneOps(ands=unpack, popcounts=0, shifts=unpack, adds=n * k * (w_bits - 1) + m * n * k,
                       macs=m * n * k, bytes=m * k + w_bytes + out, dense_ops=2 * m * n * k)
