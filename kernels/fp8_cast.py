"""Fused FP8 casts for training: amax in one pass, scale + saturating cast (+ transposed copy) in one more.

The FP8 training linear (kernels/halo.py) casts x, W and the output gradient g to FP8 with a
float32 scale, ``scale = amax / fp8_max`` and ``x_fp8 = saturating_cast(x / scale)`` (kernels/fp8.py's
arithmetic), and its three GEMMs need some operands transposed (``dW = g^T x`` wants g^T row-major
and x column-major). In eager torch that is an amax pass, a division pass, a clamp pass, a cast
pass and a transpose copy per operand. Here it is two Triton kernels (torchao's float8 recipe
fused by torch.compile does the same, ANCHORS.md: "amax, scale, cast and transpose fused"):

* ``fp8_amax_kernel``: reads x once and produces any of: the tensor's amax, each row's, each
  column's (rowwise recipes need both of one tensor: per token for one GEMM, per feature for the
  other). Each program reduces a BLOCK_R x BLOCK_C tile and merges its maxima with atomic max on
  the float32 bit patterns held as int32 (|x| >= 0, so the integer order is the float order, and a
  NaN's pattern is above +Inf's: a NaN anywhere makes the amax NaN, as in torch). Max is exact
  and order-free, so the result is the same bits whatever the programs' order.
* ``fp8_cast_kernel``: reads x once more and writes ``q = cast(x / scale)`` (R, C) row-major and / or
  its transposed copy ``qt`` (C, R) row-major. Tensorwise: one scale for both. Rowwise: q uses the
  rows' scales, qt the columns' (qt's own rows), i.e. q is x quantised per row and qt is x^T
  quantised per row: the two operands a rowwise backward needs, in one pass. The scales are
  computed in the kernel (``amax / fp8_max``) and written by the first programs of each row / column.

Arithmetic, identical to the eager torch path (``kernels.fp8.quantize_fp8`` /
``kernels.halo._quantize_torch``) bit for bit, which the tests check on every device:

* the input is read and converted to float32 (exact from bf16 / fp16);
* ``scale = amax / fp8_max`` and ``x / scale`` are correctly rounded FP32 divisions
  (``tl.math.div_rn``: on a GPU a plain ``/`` may lower to an approximate division);
* the quotient is clamped to [-fp8_max, fp8_max] (NaN kept; e5m2 keeps +-Inf) and rounded to the
  nearest FP8 value, ties to even. Compiled for a GPU that is the hardware conversion
  (``cvt.rn.satfinite`` on sm_89+, exact RNE on clamped input); in Triton's interpreter, whose
  in-kernel float -> fp8 cast rounds wrongly (DESIGN.md: -31.51 -> -16, torch gives -32), the
  rounding is computed explicitly on the float32 bits (``_fp8_code``: shift the 24-bit significand
  right by the bits the format drops, round half to even, subnormals included). Both produce
  the fp8 code as a byte, stored through a uint8 view of the fp8 output. NaN -> 0x7F with the sign
  (torch's code), e5m2 +-Inf -> 0x7C with the sign.
* ``check=True``: the amax is read back (a device sync) and an all-zero or non-finite tensor /
  row / column raises, naming it. ``check=False`` (timing loops): no sync, and an amax of 0 is
  raised to the smallest normal float32 first (``amax.clamp(min=tiny)``, as kernels/halo.py's
  unchecked path does), so an all-zero tensor casts to zeros.

Both kernels run on CUDA tensors, or on CPU tensors under TRITON_INTERPRET=1 (and as compile-only
stand-ins for bench/sm90.py). Nothing falls back to torch: a launch that cannot run raises.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from kernels._triton_env import CPU_LAUNCH_OK, TRITON_INTERPRET, tl, triton
from kernels._validate import max_element_offset
from kernels.fp8 import FP8_DTYPES, FP8_MAX, _fmt_name

__all__ = ["Amax", "Fp8Cast", "fp8_amax", "fp8_cast", "fp8_quantize"]

INPUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: (mantissa bits, exponent bias) of each format
_FORMAT_BITS = {"e4m3": (3, 7), "e5m2": (2, 15)}
_TINY_BITS = 0x00800000  # float32's smallest normal, 2**-126, as bits: the unchecked amax floor

#: Tiles: one 64 x 128 tile per program on a GPU, 8 warps (a bf16 tile is 16 KB, 32 elements a
#: thread; the transposed fp8 store goes through an 8 KB shared-memory layout change). Compiled
#: for sm_90 (bench/sm90.py, family halo): 4 warps hold 64 elements a thread and the rowwise cast
#: writing both outputs needs 160 registers (the explicit rounding spills at 255; the bf16 rowwise
#: amax spills 4 B); with 8 warps at most 92 (241 explicit), no spills. Small tiles in the
#: interpreter, so that the tests' odd shapes cross tile edges in both directions.
GPU_CONFIG = {"BLOCK_R": 64, "BLOCK_C": 128, "num_warps": 8}
INTERPRETER_CONFIG = {"BLOCK_R": 16, "BLOCK_C": 32}
_GRID_AXIS1_MAX = 65535


# ---------------------------------------------------------------------------------- kernels
@triton.jit
def fp8_amax_kernel(x_ptr, amax_ptr, row_amax_ptr, col_amax_ptr, R, C, stride_r, stride_c,
                    TENSOR: tl.constexpr, ROWS: tl.constexpr, COLS: tl.constexpr,
                    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """amax(|x|) of the tensor / each row / each column, as float32 bits in int32 buffers (zeroed)."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    in_r, in_c = rows < R, cols < C
    x = tl.load(x_ptr + rows[:, None] * stride_r + cols[None, :] * stride_c,
                mask=in_r[:, None] & in_c[None, :], other=0.0).to(tl.float32)
    bits = tl.abs(x).to(tl.int32, bitcast=True)  # >= 0; NaN above +Inf
    if TENSOR:
        tl.atomic_max(amax_ptr, tl.max(tl.max(bits, axis=1), axis=0), sem="relaxed")
    if ROWS:
        tl.atomic_max(row_amax_ptr + rows, tl.max(bits, axis=1), mask=in_r, sem="relaxed")
    if COLS:
        tl.atomic_max(col_amax_ptr + cols, tl.max(bits, axis=0), mask=in_c, sem="relaxed")


@triton.jit
def _scale_of(amax_bits, floor_bits, FP8_MAX: tl.constexpr):
    """amax / fp8_max, correctly rounded, from amax's bits raised to ``floor_bits`` (NaN stays NaN)."""
    amax = tl.maximum(amax_bits, floor_bits).to(tl.float32, bitcast=True)
    return tl.math.div_rn(amax, tl.full(amax.shape, FP8_MAX, tl.float32))


@triton.jit
def _fp8_code(v, FP8_MAX: tl.constexpr, MBITS: tl.constexpr, BIAS: tl.constexpr, KEEP_INF: tl.constexpr,
              EXPLICIT: tl.constexpr):
    """The fp8 code (uint8) of float32 v: clamp to +-FP8_MAX, round to nearest even; NaN -> 0x7F | sign,
    +-Inf -> 0x7C | sign when KEEP_INF (e5m2). EXPLICIT: the rounding computed on the bits (the
    interpreter); else the hardware conversion of the clamped value."""
    vbits = v.to(tl.int32, bitcast=True)
    sign = (vbits >> 31) & 1
    c = tl.minimum(tl.maximum(v, -FP8_MAX), FP8_MAX)
    if EXPLICIT:
        mag = c.to(tl.int32, bitcast=True) & 0x7FFFFFFF
        e = (mag >> 23) - 127  # unbiased exponent (zero and fp32 subnormals: -127, they round to 0)
        m = (mag & 0x7FFFFF) | 0x800000  # 24-bit significand
        # bits dropped: 23 - MBITS for normal fp8 results, more below the smallest normal exponent;
        # 25 already rounds everything (m < 2**24) to zero, and keeps the shifts below 32
        drop = tl.minimum(23 - MBITS + tl.maximum(1 - BIAS - e, 0), 25)
        r = m >> drop
        rem = m - (r << drop)
        half = 1 << (drop - 1)
        r += ((rem > half) | ((rem == half) & ((r & 1) == 1))).to(tl.int32)
        # a normal code is (e + BIAS) << MBITS | (r - 2**MBITS) = (e + BIAS - 1) << MBITS + r, and a
        # carry into r = 2**(MBITS + 1) moves to the next binade by itself; a subnormal code is r
        code = (tl.maximum(e + BIAS - 1, 0) << MBITS) + r
        code = code | (sign << 7)
    else:
        if MBITS == 3:
            code = c.to(tl.float8e4nv).to(tl.uint8, bitcast=True).to(tl.int32)
        else:
            code = c.to(tl.float8e5).to(tl.uint8, bitcast=True).to(tl.int32)
    code = tl.where(v != v, 0x7F | (sign << 7), code)
    if KEEP_INF:
        code = tl.where(tl.abs(v) == float("inf"), 0x7C | (sign << 7), code)
    return code.to(tl.uint8)


@triton.jit
def fp8_cast_kernel(x_ptr, amax_ptr, row_amax_ptr, col_amax_ptr, q_ptr, qt_ptr, scale_ptr, scale_t_ptr,
                    R, C, stride_r, stride_c, stride_q, stride_qt, floor_bits,
                    FP8_MAX: tl.constexpr, MBITS: tl.constexpr, BIAS: tl.constexpr, KEEP_INF: tl.constexpr,
                    ROWWISE: tl.constexpr, HAS_Q: tl.constexpr, HAS_QT: tl.constexpr, EXPLICIT: tl.constexpr,
                    BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """q[r, c] = fp8(x[r, c] / s) and / or qt[c, r] = the same for qt's scale; scales written out.
    (Lanes past the edges read an amax of 1.0, not 0: no 0 / 0 there; they are never stored.)"""
    ONE_BITS: tl.constexpr = 0x3F800000
    pid_r, pid_c = tl.program_id(0), tl.program_id(1)
    rows = pid_r * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
    in_r, in_c = rows < R, cols < C
    mask = in_r[:, None] & in_c[None, :]
    x = tl.load(x_ptr + rows[:, None] * stride_r + cols[None, :] * stride_c, mask=mask, other=0.0).to(tl.float32)
    if ROWWISE:
        if HAS_Q:
            s_r = _scale_of(tl.load(row_amax_ptr + rows, mask=in_r, other=ONE_BITS), floor_bits, FP8_MAX)
            v = tl.math.div_rn(x, tl.broadcast_to(s_r[:, None], (BLOCK_R, BLOCK_C)))
            code = _fp8_code(v, FP8_MAX, MBITS, BIAS, KEEP_INF, EXPLICIT)
            tl.store(q_ptr + rows[:, None] * stride_q + cols[None, :], code, mask=mask)
            if pid_c == 0:
                tl.store(scale_ptr + rows, s_r, mask=in_r)
        if HAS_QT:
            s_c = _scale_of(tl.load(col_amax_ptr + cols, mask=in_c, other=ONE_BITS), floor_bits, FP8_MAX)
            v_t = tl.math.div_rn(x, tl.broadcast_to(s_c[None, :], (BLOCK_R, BLOCK_C)))
            code_t = _fp8_code(v_t, FP8_MAX, MBITS, BIAS, KEEP_INF, EXPLICIT)
            tl.store(qt_ptr + cols[:, None] * stride_qt + rows[None, :], tl.trans(code_t), mask=tl.trans(mask))
            if pid_r == 0:
                tl.store(scale_t_ptr + cols, s_c, mask=in_c)
    else:
        s = _scale_of(tl.load(amax_ptr), floor_bits, FP8_MAX)
        v = tl.math.div_rn(x, tl.broadcast_to(s, (BLOCK_R, BLOCK_C)))
        code = _fp8_code(v, FP8_MAX, MBITS, BIAS, KEEP_INF, EXPLICIT)
        if HAS_Q:
            tl.store(q_ptr + rows[:, None] * stride_q + cols[None, :], code, mask=mask)
        if HAS_QT:
            tl.store(qt_ptr + cols[:, None] * stride_qt + rows[None, :], tl.trans(code), mask=tl.trans(mask))
        if (pid_r == 0) & (pid_c == 0):
            tl.store(scale_ptr, s)


# ---------------------------------------------------------------------------------- launchers
@dataclass(frozen=True)
class Amax:
    """float32 amax(|x|) of a 2-D x: ``tensor`` 0-d, ``rows`` (R, 1), ``cols`` (1, C); None where not asked."""

    tensor: torch.Tensor | None = None
    rows: torch.Tensor | None = None
    cols: torch.Tensor | None = None


@dataclass(frozen=True)
class Fp8Cast:
    """One fused cast of a 2-D x (R, C): ``q`` (R, C) row-major with ``scale`` (0-d tensorwise, (R, 1)
    rowwise) and / or ``qt`` (C, R) row-major, x^T quantised, with ``scale_t`` (0-d, or (C, 1): one per
    column of x). ``x ~ q * scale`` and ``x^T ~ qt * scale_t``. Missing outputs are None."""

    q: torch.Tensor | None
    scale: torch.Tensor | None
    qt: torch.Tensor | None
    scale_t: torch.Tensor | None


def _check_x(x) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in INPUT_DTYPES:
        raise TypeError(f"x must be a float32, bfloat16 or float16 tensor, got {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"x must be a 2-D matrix, got shape {tuple(x.shape)}")
    R, C = x.shape
    if R == 0 or C == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}): no amax, no scale")
    if x.device.type == "cpu" and not CPU_LAUNCH_OK:
        raise RuntimeError("x is on cpu but TRITON_INTERPRET=1 is not set: the compiled Triton kernels need CUDA "
                           "tensors; move x to CUDA, use the torch casts (kernels.fp8.quantize_fp8), or set "
                           "TRITON_INTERPRET=1 before triton is imported")
    if x.device.type not in ("cuda", "cpu"):
        raise ValueError(f"x is on {x.device}; the fp8 cast kernels run on cuda (or on cpu under TRITON_INTERPRET=1)")
    if max_element_offset(x) > 2**31 - 1 or R * C > 2**31 - 1:
        raise ValueError(f"x spans more than 2**31-1 elements (shape {tuple(x.shape)}, strides {x.stride()}); the "
                         "fp8 cast kernels index with int32 offsets")
    return R, C


def _config() -> dict:
    return INTERPRETER_CONFIG if TRITON_INTERPRET else GPU_CONFIG


def _grid(R: int, C: int, cfg: dict) -> tuple[int, int]:
    grid = (triton.cdiv(R, cfg["BLOCK_R"]), triton.cdiv(C, cfg["BLOCK_C"]))
    if grid[1] > _GRID_AXIS1_MAX:
        raise ValueError(f"x has {C} columns: more than {_GRID_AXIS1_MAX} column tiles of {cfg['BLOCK_C']}")
    return grid


def _device_ctx(x: torch.Tensor):
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()  # CPU: interpreter / compile-only


def _check_flag(name: str, v) -> None:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, got {type(v).__name__}")


def fp8_amax(x: torch.Tensor, *, tensor: bool = False, rows: bool = False, cols: bool = False) -> Amax:
    """amax(|x|) of a 2-D float tensor in one pass: of the whole tensor, of each row, of each column
    (any combination, at least one). float32 results (exact: a max rounds nothing); NaN anywhere in
    a row / column / the tensor makes its amax NaN."""
    R, C = _check_x(x)
    for name, v in (("tensor", tensor), ("rows", rows), ("cols", cols)):
        _check_flag(name, v)
    if not (tensor or rows or cols):
        raise ValueError("fp8_amax: ask for at least one of tensor=True, rows=True, cols=True")
    bufs = [torch.zeros(n if on else 1, dtype=torch.int32, device=x.device) for n, on in
            ((1, tensor), (R, rows), (C, cols))]
    cfg = _config()
    with _device_ctx(x):
        fp8_amax_kernel[_grid(R, C, cfg)](x, *bufs, R, C, x.stride(0), x.stride(1), TENSOR=tensor, ROWS=rows,
                                          COLS=cols, **cfg)
    t, r, c = (b.view(torch.float32) for b in bufs)
    return Amax(t.reshape(()) if tensor else None, r.reshape(R, 1) if rows else None,
                c.reshape(1, C) if cols else None)


def _check_amax(amax: torch.Tensor, granularity: str, axis: str) -> None:
    """Raise on a zero or non-finite amax (reads it back: a device sync on a GPU)."""
    what = "tensorwise" if granularity == "tensorwise" else "rowwise"
    for bad, why in ((~torch.isfinite(amax), "NaN or Inf"), (amax == 0, "0")):
        if bool(bad.any()):
            where = "" if amax.dim() == 0 else f" (first at {axis} {int(bad.reshape(-1).nonzero()[0])})"
            tail = ": the input holds non-finite values, no scale exists" if why != "0" else \
                f": an all-zero {'tensor' if amax.dim() == 0 else axis} has no scale"
            raise ValueError(f"{what} amax is {why}{where}{tail}")


def fp8_cast(x: torch.Tensor, fmt, amax: Amax, granularity: str = "tensorwise", *, out: bool = True,
             out_t: bool = False, check: bool = True, _explicit: bool | None = None) -> Fp8Cast:
    """Scale and cast x to FP8 in one pass, given its amax (:func:`fp8_amax`): ``q`` (``out``) and / or
    the transposed copy ``qt`` (``out_t``). tensorwise uses ``amax.tensor`` for both; rowwise uses
    ``amax.rows`` for q and ``amax.cols`` for qt. ``check``: raise on a zero / non-finite amax (a
    host read); else a zero amax becomes 2**-126 (no sync). ``_explicit`` (tests): force the
    explicit bit rounding (True) or the hardware conversion (False); default: explicit exactly in
    the interpreter."""
    R, C = _check_x(x)
    name = _fmt_name(fmt)
    if granularity not in ("tensorwise", "rowwise"):
        raise ValueError(f"granularity must be 'tensorwise' or 'rowwise', got {granularity!r}")
    for flag, v in (("out", out), ("out_t", out_t), ("check", check)):
        _check_flag(flag, v)
    if not (out or out_t):
        raise ValueError("fp8_cast: ask for at least one of out=True (q) and out_t=True (the transposed copy)")
    if not isinstance(amax, Amax):
        raise TypeError(f"amax must be an Amax (from fp8_amax), got {type(amax).__name__}")
    rowwise = granularity == "rowwise"
    need = ([("rows", (R, 1))] if out else []) + ([("cols", (1, C))] if out_t else []) if rowwise \
        else [("tensor", ())]
    for field, shape in need:
        a = getattr(amax, field)
        if not isinstance(a, torch.Tensor) or a.dtype != torch.float32 or tuple(a.shape) != shape:
            got = f"{a.dtype} {tuple(a.shape)}" if isinstance(a, torch.Tensor) else type(a).__name__
            raise ValueError(f"amax.{field} must be a float32 tensor of shape {shape} for a {granularity} cast of "
                             f"x {tuple(x.shape)}, got {got}")
        if a.device != x.device:
            raise ValueError(f"amax.{field} must be on x's device {x.device}, got {a.device}")
        if check:
            _check_amax(a, granularity, "row" if field == "rows" else "column")
    if _explicit is None:
        _explicit = TRITON_INTERPRET
    dtype = FP8_DTYPES[name]
    dev = x.device
    q = torch.empty((R, C), dtype=dtype, device=dev) if out else None
    qt = torch.empty((C, R), dtype=dtype, device=dev) if out_t else None
    if rowwise:
        scale = torch.empty((R, 1), dtype=torch.float32, device=dev) if out else None
        scale_t = torch.empty((C, 1), dtype=torch.float32, device=dev) if out_t else None
    else:
        scale = torch.empty((), dtype=torch.float32, device=dev)
        scale_t = scale
    # int32 views of the amax buffers (float32 bits), uint8 views of the fp8 outputs (codes)
    dummy_i = torch.zeros(1, dtype=torch.int32, device=dev)
    dummy_u8 = torch.empty(1, dtype=torch.uint8, device=dev)
    dummy_f = torch.empty(1, dtype=torch.float32, device=dev)

    def bits(a):
        return a.contiguous().view(torch.int32).reshape(-1) if a is not None else dummy_i

    tensor_b = bits(amax.tensor) if not rowwise else dummy_i
    rows_b = bits(amax.rows) if rowwise and out else dummy_i
    cols_b = bits(amax.cols) if rowwise and out_t else dummy_i
    mbits, bias = _FORMAT_BITS[name]
    cfg = _config()
    with _device_ctx(x):
        fp8_cast_kernel[_grid(R, C, cfg)](
            x, tensor_b, rows_b, cols_b,
            q.view(torch.uint8) if out else dummy_u8, qt.view(torch.uint8) if out_t else dummy_u8,
            scale if scale is not None else dummy_f, scale_t if (rowwise and out_t) else dummy_f,
            R, C, x.stride(0), x.stride(1), C if out else 0, R if out_t else 0, 0 if check else _TINY_BITS,
            FP8_MAX=FP8_MAX[name], MBITS=mbits, BIAS=bias, KEEP_INF=name == "e5m2", ROWWISE=rowwise,
            HAS_Q=out, HAS_QT=out_t, EXPLICIT=bool(_explicit), **cfg)
    return Fp8Cast(q, scale, qt, scale_t)


def fp8_quantize(x: torch.Tensor, fmt="e4m3", granularity: str = "tensorwise", *, out: bool = True,
                 out_t: bool = False, check: bool = True) -> Fp8Cast:
    """:func:`fp8_amax` then :func:`fp8_cast`: x read twice, every requested output written once.

    tensorwise: q and qt share one 0-d scale. rowwise: q per row of x (scale (R, 1)), qt per column
    of x (scale_t (C, 1)); the amax pass computes the rows' and the columns' maxima together when both
    outputs are asked for."""
    _check_x(x)
    _fmt_name(fmt)
    for flag, v in (("out", out), ("out_t", out_t), ("check", check)):
        _check_flag(flag, v)
    if granularity not in ("tensorwise", "rowwise"):
        raise ValueError(f"granularity must be 'tensorwise' or 'rowwise', got {granularity!r}")
    if not (out or out_t):
        raise ValueError("fp8_quantize: ask for at least one of out=True (q) and out_t=True (the transposed copy)")
    if granularity == "tensorwise":
        amax = fp8_amax(x, tensor=True)
    else:
        amax = fp8_amax(x, rows=out, cols=out_t)
    return fp8_cast(x, fmt, amax, granularity, out=out, out_t=out_t, check=check)
