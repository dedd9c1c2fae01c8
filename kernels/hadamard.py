"""
Fast Walsh-Hadamard transform (FWHT) in Triton
==============================================

``fwht(x)`` computes ``y = x @ H_n`` along the last dimension (``H_n`` is symmetric, so this is
``H_n`` applied to every row), with ``H_n`` the Sylvester Hadamard matrix in natural order,
``H_1 = [1]``, ``H_2n = [[H_n, H_n], [H_n, -H_n]]``, for ``n = 2**L``.

Why a Hadamard kernel
---------------------
QuaRot and HALO rotate activations (and weights) by ``H_n / sqrt(n)`` before quantising them: an
orthogonal rotation spreads a few outlier channels over all channels, so a low-bit grid fits the
result far better, and the rotation is undone for free inside the next matmul. The rotation must
be cheap, and the FWHT does it in ``n log2 n`` additions instead of an ``n^2`` matmul.

Float inputs (fp32, fp16, bf16) are transformed in fp32 and scaled by ``1/sqrt(n)`` when
``normalize`` (the default for floats), which makes the transform orthogonal and an involution.
int32 inputs are transformed unnormalised and exactly: the kernel, the torch reference, the
cycle model in sim/hadamard.py and the Verilog butterfly network agree bit for bit.

Design: butterflies in registers, one instruction per element per stage
-----------------------------------------------------------------------
The transform factors as L stages of butterflies; stage s pairs element i (bit s of i clear) with
element ``i + 2**s`` and replaces them by their sum and difference. A program loads a tile of
``ROWS`` independent transforms of length ``LEN`` and runs all ``log2(LEN)`` stages on it in
registers (:func:`fwht_rows_t`), so every element is read once and written once.

Triton has no lane shuffles, so a stage is expressed on shapes, and each stage is **one pass**:
the tile is one flat vector of ``F = ROWS * LEN`` values (flat index ``f = r * LEN + i``) viewed
as (F / 2, 2), so the pair axis is bit 0 of f; ``a, b = tl.split(...)`` takes the two partners,
``tl.join(a + b, a - b)`` puts the butterfly back on the same axis, and ``tl.permute`` moves that
axis to the front, which rotates the bits of f right by one: the next stage's bit is bit 0 again
(a self-sorting, Stockham-style order). After L stages ``f = i * ROWS + r``, the transposed tile,
and one last permute gives it back as (ROWS, LEN). The pair of a stage is then always the
register-local axis that ``tl.split`` needs, whatever the stage: Triton keeps a few index bits in
each thread's registers, runs the stages on those bits with no data movement, and moves data
(``ttg.convert_layout``: stmatrix + ld.shared.v4 through 16 KiB of shared memory, never a
reduction) only when the register bits are used up. For the 4096-long row on 8 warps that is 3
exchanges, one every 3-4 stages, as in Dao-AILab's fast-hadamard-transform (registers, then one
exchange between register-local and cross-thread stages); the butterflies compile to exactly one
FADD per element per stage (192 per thread of 16 elements) among 328 SASS instructions per thread
(20.5 per element) at 45 registers (the previous form: 79). Compared in a minimal
load-transform-store kernel of the same tile: the previous form (two ``tl.sum`` reductions over a
(ROWS, LEN / 2h, 2, h) view and a ``tl.where`` per stage) compiles to 1,344 instructions per
thread (256 SHFL, 384 shared loads and stores, 17 barriers), this one to 304 (24 shared, 5
barriers), and the form that moves the pair axis of a (..., 2, h) view last and back each stage
to 424 (17 barriers, ~5 exchanges plus a round of shuffles): fewer registers there (32, 8 KiB
shared) but more data movement. One cost: tiles of several short rows (n = 128, 16 rows) now
exchange through 8 KiB of shared memory where the reductions stayed inside warps (shuffles, 0 B).

Numbers are unchanged by the form: a stage is the sums and differences ``a + b``, ``a - b`` of the
same two values (a the element with bit s clear), each one correctly rounded fp32 operation (exact
in int32), and the stages run in the order h = 1, 2, 4, ..., so the torch reference below (same
order, fp32) reproduces the kernel bit for bit, whichever layouts Triton chooses.

One pass covers ``n <= MAX_BLOCK``. A longer transform uses ``H_n = H_{n/B} (x) H_B``
(Kronecker product, B = MAX_BLOCK): pass 1 transforms each contiguous block of B elements,
pass 2 transforms the n/B elements ``B`` apart at each offset (the high index bits). The stages
are still h = 1, 2, 4, ..., the intermediate is kept in fp32 (int32 for int32 inputs), and only
pass 2 scales, so the two-pass result equals the one-pass one exactly. The price of the second
pass is one more read and write of an fp32 copy, paid only above MAX_BLOCK.

Predicted time on an H200: 16384 x 4096 bf16 (the benchmark)
-------------------------------------------------------------
The transform reads and writes 2 x 128 MiB = 268 MB; a device copy of that moves at 4,243 GB/s
(measured, ANCHORS.md), 63 us, which is the floor. Launch: 16384 programs of one row, 8 warps,
16 values per thread, 45 registers (48 allocated: 12,288 per program, so 5 programs = 40 warps
per SM), 16 KiB of shared memory each (80 KiB per SM), 16384 / (132 x 5) = 24.8 waves. Per
element the kernel issues 20.5 instructions, 12 of them the FADDs of its 12 stages (one per
element per stage, the minimum) and 1.5 the shared-memory exchanges; 67.1 M elements x 20.5 / 32
lanes = 43 M warp instructions over 132 SMs x 4 schedulers at 1.98 GHz: 41 us of issue (24 us of
it FADDs). The 3 exchanges move 3 x 8 B per element through shared memory, 1.6 GB at 128 B/clock
per SM: 48 us. Each of these is below the 63 us of memory time, they use different pipes, and 5
programs per SM in different phases overlap them (40 KiB of loads in flight per SM, against the
~23 KiB that 4.2 TB/s x ~700 ns of latency asks of each): so the kernel should stay memory-bound,
predicted ~70 us (1.05-1.15 x the copy, ~3.8 TB/s), within the 1.2 x target. The margin is the
exchanges: bank conflicts, or a clock below ~1.6 GHz under load, would put shared-memory time
near the memory time. The previous form (84 instructions per element, 256 shuffles and 384
shared accesses per thread) was issue-bound: ~170 us of issue alone, ~2.7 x the copy or worse.

Running it
----------
On a GPU machine the kernel is compiled. Without CUDA it runs in Triton's interpreter on CPU
tensors (``kernels._triton_env`` sets ``TRITON_INTERPRET=1``), which is slow: tests keep n small.
"""

import contextlib
import math

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton

__all__ = ["MAX_BLOCK", "fwht", "fwht_rows", "fwht_rows_t", "hadamard_matrix", "hadamard_reference"]

#: Longest transform one program does in registers. 4096 fp32 values is 16 KiB per tile: 16 values
#: per thread at 8 warps (45 registers for bf16 on sm_90, no spills; bench/sm90.py).
MAX_BLOCK = 4096
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32)


# %%
# The compute kernel
# ------------------
# Program p owns transforms t = p*ROWS .. p*ROWS + ROWS - 1 of T. Transform t's element i sits at
#     (t // G) * n + (t % G) * inner_stride + i * elem_stride
# in the contiguous (batch, n) tensor: pass 1 (contiguous blocks) has G = n / LEN blocks per row,
# inner_stride = LEN, elem_stride = 1; pass 2 (strided) has G = B offsets per row,
# inner_stride = 1, elem_stride = B. One kernel serves both passes and the one-pass case (G = 1).


@triton.jit
def fwht_rows_t(x, R: tl.constexpr, LEN: tl.constexpr, LOG_LEN: tl.constexpr):
    """Unnormalised FWHT of each row of an (R, LEN) tile (LEN = 2**LOG_LEN), returned transposed,
    as (LEN, R); stages h = 1, 2, 4, ..., one pass each (module docstring).

    The tile is handled as one flat vector of F = R * LEN elements, flat index ``f = r * LEN + i``.
    Each stage views it as (F / 2, 2): the pair axis is bit 0 of f, ``tl.split`` gives the element
    with that bit clear (a) and set (b), ``tl.join(a + b, a - b)`` puts the butterfly back on the
    same axis, and ``tl.permute`` moves that axis to the front, which rotates the bits of f right by
    one, so bit s + 1 of i is bit 0 for the next stage. After LOG_LEN stages f = i * R + r: the
    tile is (LEN, R), each element at its own i.
    """
    F: tl.constexpr = R * LEN
    x = tl.reshape(x, (F,))
    for _s in tl.static_range(LOG_LEN):
        a, b = tl.split(tl.reshape(x, (F // 2, 2)))
        x = tl.reshape(tl.permute(tl.join(a + b, a - b), (1, 0)), (F,))
    return tl.reshape(x, (LEN, R))


@triton.jit
def fwht_rows(x, R: tl.constexpr, LEN: tl.constexpr, LOG_LEN: tl.constexpr):
    """Unnormalised FWHT of each row of an (R, LEN) tile, as (R, LEN) (see :func:`fwht_rows_t`)."""
    return tl.permute(fwht_rows_t(x, R, LEN, LOG_LEN), (1, 0))


@triton.jit
def fwht_kernel(
    x_ptr, y_ptr,
    T, G, n, inner_stride, elem_stride, scale,
    LEN: tl.constexpr, LOG_LEN: tl.constexpr, ROWS: tl.constexpr,
    APPLY_SCALE: tl.constexpr, IS_INT: tl.constexpr, BF16_RNE: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    t = pid * ROWS + tl.arange(0, ROWS)
    i = tl.arange(0, LEN)
    base = (t // G) * n + (t % G) * inner_stride
    offs = base[:, None] + i[None, :] * elem_stride
    mask = (t < T)[:, None]
    x = tl.load(x_ptr + offs, mask=mask, other=0)
    # integers stay int32 (exact while |y| <= n * max|x| fits, which the launcher checks);
    # floats are transformed in fp32, whatever their storage type
    if IS_INT:
        x = x.to(tl.int32)
    else:
        x = x.to(tl.float32)

    x = fwht_rows(x, ROWS, LEN, LOG_LEN)
    if APPLY_SCALE:
        x = x * scale
    if BF16_RNE:
        # Triton 3.6's interpreter truncates fp32 -> bf16 (1.5448 -> 1.5391, not 1.5469); round to
        # nearest even by hand, as the GPU's cvt.rn.bf16.f32 does. Interpreter only (finite
        # values; NaN payloads are not preserved).
        bits = x.to(tl.uint32, bitcast=True)
        bits = bits + 0x7FFF + ((bits >> 16) & 1)
        y = (bits >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)
    else:
        y = x.to(y_ptr.dtype.element_ty)
    tl.store(y_ptr + offs, y, mask=mask)


# %%
# Launch shapes
# -------------
# A tile holds ROWS transforms so that short transforms still give each program a few thousand
# elements (one row of n = 64 would leave most of a warp idle and make the grid enormous). The
# interpreter gets bigger tiles: each program costs Python overhead, not registers.

TILE_ELEMS = 2048 if not TRITON_INTERPRET else 2**14


def _tile(length: int, transforms: int) -> tuple[int, int]:
    """(ROWS, num_warps) for transforms of ``length`` elements."""
    rows = max(1, min(TILE_ELEMS // length, triton.next_power_of_2(transforms)))
    elems = rows * length
    warps = 4 if elems <= 1024 else 8 if elems <= 4096 else 16
    return rows, warps


def _launch(src, dst, transforms, groups, n, inner_stride, elem_stride, length, scale, is_int):
    rows, warps = _tile(length, transforms)
    grid = (triton.cdiv(transforms, rows),)
    fwht_kernel[grid](
        src, dst, transforms, groups, n, inner_stride, elem_stride, scale,
        LEN=length, LOG_LEN=length.bit_length() - 1, ROWS=rows,
        APPLY_SCALE=scale != 1.0, IS_INT=is_int,
        BF16_RNE=TRITON_INTERPRET and dst.dtype == torch.bfloat16, num_warps=warps,
    )


# %%
# The launcher
# ------------
# Everything that can be wrong with the input is checked before launch, with a message naming
# the argument.


def _check_input(x, normalize, name: str = "x") -> tuple[int, bool]:
    """Validate ``x`` and resolve ``normalize``; return (n, normalize)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in DTYPES:
        raise TypeError(
            f"{name} must have dtype float32, float16, bfloat16 or int32, got {x.dtype}"
        )
    if x.dim() < 1:
        raise ValueError(f"{name} must have at least one dimension (the transform runs along the last), got a scalar")
    n = x.shape[-1]
    if n < 2 or n & (n - 1):
        raise ValueError(
            f"{name}.shape[-1] must be a power of two >= 2 (the FWHT pairs elements 2**s apart), got {n}"
        )
    if normalize is not None and not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True, False or None, got {normalize!r}")
    is_int = x.dtype == torch.int32
    if normalize is None:
        normalize = not is_int
    if normalize and is_int:
        raise ValueError(
            "normalize=True needs a float dtype: an int32 input is transformed unnormalised and "
            "exactly (pass normalize=False or None)"
        )
    return n, normalize


def _check_int_range(x: torch.Tensor, n: int, name: str = "x") -> None:
    """int32 is exact only while every output fits: |y| <= n * max|x| <= 2**31 - 1."""
    if x.numel() == 0:
        return
    limit = (2**31 - 1) // n
    lo, hi = int(x.min()), int(x.max())
    if lo < -limit or hi > limit:
        raise ValueError(
            f"{name} holds int32 values up to {max(-lo, hi)} in magnitude; a length-{n} transform "
            f"is exact in int32 only for |{name}| <= (2**31-1)//{n} = {limit}"
        )


def fwht(x: torch.Tensor, *, normalize: bool | None = None, block_size: int | None = None) -> torch.Tensor:
    """Hadamard transform of ``x`` along its last dimension (length n = 2**L, 2 <= n <= MAX_BLOCK**2).

    Floats (float32, float16, bfloat16) are computed in fp32 and returned in their own dtype,
    scaled by 1/sqrt(n) when ``normalize`` (default True for floats). int32 is transformed
    unnormalised and exactly (``normalize`` must be False or None), and is rejected if any output
    could overflow int32. ``block_size`` (a power of two, default MAX_BLOCK) is the longest
    transform done in one pass; longer ones take two (see the module docstring); tests lower it
    to exercise the two-pass path on small inputs. A non-contiguous ``x`` is copied first.
    """
    n, normalize = _check_input(x, normalize)
    block = MAX_BLOCK if block_size is None else block_size
    if isinstance(block, bool) or not isinstance(block, int) or block < 2 or block & (block - 1):
        raise ValueError(f"block_size must be a power of two >= 2, got {block_size!r}")
    if n > block * block:
        raise ValueError(f"x.shape[-1] = {n} exceeds the two-pass limit block_size**2 = {block * block}")
    kind = x.device.type
    if kind == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError(
            "x is on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernel needs a CUDA "
            "tensor; move it to CUDA, or set TRITON_INTERPRET=1 before triton is imported"
        )
    if kind not in ("cuda", "cpu"):
        raise ValueError(f"x is on {x.device}; fwht runs on cuda (or on cpu under TRITON_INTERPRET=1)")
    if x.numel() > 2**31 - 1:
        raise ValueError(f"x has {x.numel()} elements; fwht indexes with int32 offsets (at most 2**31-1)")
    is_int = x.dtype == torch.int32
    if is_int:
        _check_int_range(x, n)

    x = x.contiguous()
    out = torch.empty_like(x)
    if x.numel() == 0:
        return out
    batch = x.numel() // n
    scale = 1.0 / math.sqrt(n) if normalize else 1.0
    with torch.cuda.device(x.device) if kind == "cuda" else contextlib.nullcontext():
        if n <= block:
            _launch(x, out, batch, 1, n, n, 1, n, scale, is_int)
        else:
            # pass 1: each contiguous block of `block` elements; pass 2: across the blocks
            inner = torch.empty(x.shape, dtype=torch.int32 if is_int else torch.float32, device=x.device)
            groups = n // block
            _launch(x, inner, batch * groups, groups, n, block, 1, block, 1.0, is_int)
            _launch(inner, out, batch * block, block, n, 1, block, groups, scale, is_int)
    return out


# %%
# The references
# --------------
# ``hadamard_reference`` is the same butterfly in plain torch, stage for stage in the kernel's
# order (h = 1, 2, 4, ...), in fp32 for floats and int64 for int32, so it matches the kernel bit
# for bit. ``hadamard_matrix`` is the dense H_n, an independent check of both.


def hadamard_reference(x: torch.Tensor, *, normalize: bool | None = None) -> torch.Tensor:
    """The FWHT of ``x`` along its last dimension in plain torch, same contract as :func:`fwht`."""
    n, normalize = _check_input(x, normalize)
    is_int = x.dtype == torch.int32
    y = x.to(torch.int64 if is_int else torch.float32).reshape(-1, n)
    h = 1
    while h < n:
        v = y.reshape(y.shape[0], n // (2 * h), 2, h)
        a, b = v[:, :, 0, :], v[:, :, 1, :]
        y = torch.stack([a + b, a - b], dim=2).reshape(y.shape[0], n)
        h *= 2
    if is_int:
        if y.numel() and int(y.abs().max()) > 2**31 - 1:
            raise ValueError(f"the transform of x overflows int32 (max |y| = {int(y.abs().max())})")
        return y.to(torch.int32).reshape(x.shape)
    if normalize:
        y = y * (1.0 / math.sqrt(n))
    return y.to(x.dtype).reshape(x.shape)


def hadamard_matrix(n: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The dense Sylvester Hadamard matrix H_n (entries +-1): H_2n = [[H, H], [H, -H]]."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or n & (n - 1):
        raise ValueError(f"n must be a power of two >= 1, got {n!r}")
    h = torch.ones((1, 1), dtype=dtype, device=device)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], dim=1), torch.cat([h, -h], dim=1)], dim=0)
    return h


# %%
# A quick self-check, as in the tutorial: ``python -m kernels.hadamard``.
if __name__ == "__main__":
    torch.manual_seed(0)
    device = "cpu" if TRITON_INTERPRET else "cuda"
    for dtype in DTYPES:
        x = (torch.randint(-1000, 1000, (5, 256), device=device).to(dtype) if dtype == torch.int32
             else torch.randn(5, 256, device=device).to(dtype))
        same = torch.equal(fwht(x), hadamard_reference(x))
        print(f"fwht 5x256 {dtype} on {device} (interpreter={TRITON_INTERPRET}): "
              f"{'matches' if same else 'DIFFERS FROM'} the torch reference")
