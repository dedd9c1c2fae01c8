"""The GPU check's plan: every GPU benchmark item with its roofline, its predicted time and what it
costs to run, and every GPU test, ordered and cut into per-family steps with their own time slices.

A benchmark item's **roofline** is the least time its bytes and operations allow:
``max(bytes / copy bandwidth, ops / peak of its math)``, with the bytes each operand and result must
cross HBM once (the kernels' own counters in kernels/: count_ops, count_wonly_ops, count_lut_ops, ...)
and the peaks of the peers measured on one H200 in ../shared/ANCHORS.md: device copy 4,243 GB/s,
bf16 matmul 697 TFLOP/s, fp8 ``_scaled_mm`` 1,292 TFLOP/s. INT8 tensor-core GEMMs are held to the fp8
rate (sm_90's datasheet gives both the same dense rate; no INT8 peer was measured). ``predicted_s``
is that time at the H200 peers; on another GPU the roofline scales by its datasheet bandwidth and
math rates relative to the H200's (an H100 SXM moves 3.35 / 4.8 of the bytes per second).
``pct_of_roofline`` = roofline time on this GPU / measured time.

The **estimate** of an item's cost in the check: its share of its workload's set-up (operands,
the correctness check, autotuning) plus the timing of bench/gpu_timing.py (3 warm-up calls, then
10-200 calls, each after a 256 MiB L2 flush). Tests cost a fixed time each plus a start-up per
family. ``python -m bench.gpu_check --plan`` prints it all without a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Peers measured on one H200 (torch 2.11, triton 3.6), ../shared/ANCHORS.md
H200_COPY_GB_S = 4243.0
H200_BF16_TFLOPS = 697.0
H200_FP8_TFLOPS = 1292.0
H200_DATASHEET = {"hbm_tb_per_s": 4.8, "bf16_dense_tflops": 1979 / 2}
#: the math an item is bound by -> its rate at the H200 peers (ops/s); "none": bytes only
MATH_RATE = {"bf16": H200_BF16_TFLOPS * 1e12, "fp8": H200_FP8_TFLOPS * 1e12, "int8": H200_FP8_TFLOPS * 1e12,
             # CUDA-core fp32 / int32 (not tensor cores): the datasheet's 67 TFLOPS scaled as the bf16
             # peer is to its datasheet (697 / 989)
             "fp32": 67e12 * H200_BF16_TFLOPS / (1979 / 2), "int32": 0.5 * 67e12 * H200_BF16_TFLOPS / (1979 / 2),
             "none": math.inf}

#: thread instructions an H200 issues per second: 132 SMs x 4 schedulers x 32 lanes x 1.98 GHz boost
ISSUE_RATE = 132 * 4 * 32 * 1.98e9
#: The kernels as written, where instruction issue rather than bytes bounds them: thread
#: instructions per unit of work, from the main loop of their sm_90 SASS as Triton compiles them at
#: the benchmark's shapes (bench.sm90 disassembles them: Launch.loop_instructions; one pass of the
#: loop x 32 threads x warps / the units one pass does, :func:`instructions_per_unit`).
#: tests/test_sm90_compile.py recounts them and fails, printing the new figures, when a kernel or
#: Triton changes them. Weight-only GEMV: per packed weight code, keyed (bits, batch); the OWQ
#: variant uses its bits' figure (its loop differs by under 1%).
WONLY_INSTR_PER_CODE = {(4, 1): 2.66, (3, 1): 3.03, (2, 1): 2.55, (4, 16): 2.83, (3, 16): 3.20, (2, 16): 2.68}
#: LUT GEMM: per packed weight byte and batch row (the batch tile: M rounded up to a power of
#: two), keyed (impl, batch)
LUT_INSTR_PER_BYTE_ROW = {("lut_fp16", 1): 14.39, ("lut_int8", 1): 13.77,
                          ("lut_fp16", 16): 15.91, ("lut_int8", 16): 16.56}
#: codebook GEMM: per code of the step loop (one codebook, group-128 scales), keyed (bits, batch)
CODEBOOK_INSTR_PER_CODE = {(3, 1): 6.22, (4, 1): 4.86, (3, 16): 9.47, (4, 16): 7.59}


def instructions_per_unit(kernel: str, tiles: dict, num_warps: int, loop_instructions: int) -> float:
    """Thread instructions per unit of work (the constants above) of one compiled kernel: one pass of
    its main loop, ``loop_instructions`` SASS instructions, run by every thread of the program, over
    the units that pass does: weight codes (GEMV: C codes per packed unit x BLOCK_U units x BLOCK_N
    outputs; codebook: BLOCK_N x CHUNK) or packed bytes x batch rows (LUT: BLOCK_R (row, plane)
    pairs x CHUNK words x WORD_BITS / 8 bytes x BLOCK_M rows)."""
    if kernel == "wonly_gemv_kernel":
        bits = tiles["BITS"]
        units = (96 // bits if bits == 3 else 32 // bits) * tiles["BLOCK_U"] * tiles["BLOCK_N"]
    elif kernel == "lut_gemm_kernel":
        units = tiles["BLOCK_R"] * tiles["CHUNK"] * tiles["WORD_BITS"] // 8 * tiles["BLOCK_M"]
    elif kernel == "codebook_gemm_kernel":
        units = tiles["BLOCK_N"] * tiles["CHUNK"]
    else:
        raise ValueError(f"no unit of work is defined for {kernel!r}")
    return loop_instructions * 32 * num_warps / units

LAUNCH_FLOOR_S = 4e-6  # a kernel launch's own time: no call is predicted faster
FLUSH_S = 256 * 2**20 / (H200_COPY_GB_S * 1e9)  # zeroing the flush buffer (a write only: ~half a copy)
PYTEST_ITEM_S = 0.05
TEST_S = 0.3  # a GPU correctness test, compile cache warm
FAMILY_START_S = 6.0  # a pytest process: imports of torch, triton, the kernels


@dataclass
class Roofline:
    bytes: float  # HBM bytes moved at least
    ops: float  # operations (2 per multiply-add)
    math: str  # key of MATH_RATE
    setup_s: float = 0.3  # this item's share of its workload's set-up, on the GPU
    calls: int = 1  # timed calls that make one item (a sweep inside one item)
    note: str = ""
    instructions: float = 0.0  # thread instructions of the kernel as written, where counted (issue bound)

    def seconds(self, scale_bw: float = 1.0, scale_math: float = 1.0, *, issue: bool = True) -> float:
        """The roofline: bytes at the copy rate, operations at their math's rate and (``issue``) the
        kernel's counted instructions at the issue rate, whichever is longest."""
        return max(self.bytes / (H200_COPY_GB_S * 1e9 * scale_bw), self.ops / (MATH_RATE[self.math] * scale_math),
                   self.instructions / (ISSUE_RATE * scale_math) if issue else 0.0)


def gpu_scales(device_name: str) -> tuple[float, float]:
    """(bandwidth, math) of this GPU relative to the H200 the peers ran on, from the datasheets."""
    from bench.gpu_timing import gpu_peak

    peak = gpu_peak(device_name)
    if peak is None:
        return 1.0, 1.0
    return peak.hbm_tb_per_s / H200_DATASHEET["hbm_tb_per_s"], peak.bf16_dense_tflops / H200_DATASHEET["bf16_dense_tflops"]


def item_cost_s(r: Roofline) -> float:
    """What running the item costs in the check (set-up + timing), at the H200 peers."""
    t = max(r.seconds(), LAUNCH_FLOOR_S)
    reps = min(200, max(10, math.ceil(0.05 / t)))
    return PYTEST_ITEM_S + r.setup_s + r.calls * (5 * t + reps * (t + FLUSH_S))


# ------------------------------------------------------------------------------- per family
def _gemm(M, N, K, a_bytes, b_bytes, c_bytes, math_kind, **kw) -> Roofline:
    return Roofline(M * K * a_bytes + K * N * b_bytes + M * N * c_bytes, 2 * M * N * K, math_kind, **kw)


def _int8_gemm(test, p):
    from kernels.int8_gemm import count_ops

    M, N, K = p["shape"]
    if p["impl"] == "torch_bf16":
        return _gemm(M, N, K, 2, 2, 2, "bf16", setup_s=0.2)
    ops = count_ops(M, N, K)
    return Roofline(ops.bytes_moved, 2 * ops.macs, "int8", setup_s=0.2 + (2.0 if p["impl"] == "triton" else 0))


def _bitplane(test, p):
    from kernels.bitplane_gemm import count_bitplane_ops

    M, N, K = p["shape"]
    bits, method = p["bits"], p["method"]
    ops = count_bitplane_ops(M, N, K, bits, bits, method)
    b = ops.bytes
    if method == "dot":  # one int8 tensor-core GEMM per weight bit plane
        return Roofline(b, 2 * M * N * K * bits, "int8", setup_s=0.3)
    # popcount: AND + POPC + shift-add per 32 bit-pairs of one plane pair, on the CUDA cores
    return Roofline(b, 3 * M * N * K * bits * bits / 32, "int32", setup_s=0.3)


def _fp8_gemm(test, p):
    M, N, K = p["shape"]
    if p["impl"] == "torch_bf16":
        return _gemm(M, N, K, 2, 2, 2, "bf16", setup_s=0.2)
    tuned = p["impl"].startswith("triton")
    return _gemm(M, N, K, 1, 1, 2, "fp8", setup_s=0.3 + (1.5 if tuned else 0))


def _hadamard(test, p):
    from bench.test_bench_hadamard import SHAPE

    n = SHAPE[0] * SHAPE[1]
    return Roofline(2 * 2 * n, 0, "none", setup_s=0.5)


def _hadamard_ext(test, p):
    from bench.test_bench_hadamard_ext import CASES, TOKENS

    hidden, _, per_elem = CASES[p["case"]]
    n = TOKENS * hidden
    return Roofline((per_elem if p["impl"] == "kernel" else 4) * n, 0, "none", setup_s=0.5)


def _halo_gemms(M, N, K, fp8: bool) -> Roofline:
    # forward, input gradient, weight gradient: three M N K GEMMs; bf16 reads 2-byte operands, the
    # fp8 recipes read 1-byte ones after one amax pass and one cast(+transpose) pass per operand
    if not fp8:
        b = 3 * 2 * (M * K + N * K + M * N)
    else:
        casts = 3 * (2 + 2 + 1)  # x, w, dy: read for amax, read for cast, write fp8 (bytes per element)
        b = 3 * (M * K + N * K + 2 * M * N) + casts * (M * K + N * K + M * N) / 3
    return Roofline(b, 6 * M * N * K, "fp8" if fp8 else "bf16", setup_s=0.5)


def _halo(test, p):
    from bench.test_bench_halo import CROSSOVER_SHAPES, TARGET

    if test == "test_bench_halo_linear":
        return _halo_gemms(*TARGET, fp8=p["impl"] != "bf16")
    if test == "test_bench_halo_crossover":
        parts = [_halo_gemms(*s, fp8=f) for s in CROSSOVER_SHAPES for f in (False, True)]
        return Roofline(sum(r.bytes for r in parts), sum(r.ops for r in parts), "bf16", setup_s=1.0 + 0.2 * len(parts),
                        calls=1, note="the sum of the sweep's calls (bound by the bf16 ones' rate)")
    # test_bench_halo_training: 200 steps of the tiny LM (d 256, 4 layers, 32 x 128 tokens): bound by
    # launches, not bytes: ~200 steps x ~300 kernels
    return Roofline(0, 0, "none", setup_s=200 * 300 * 8e-6 + 3.0, note="launch-bound training loop")


def _lut_gemm(test, p):
    from bench.test_bench_lut_gemm import GROUP, K, N, Q
    from kernels.lut_gemm import count_lut_ops

    M = p["M"]
    if p["impl"] == "torch_bf16":
        return _gemm(M, N, K, 2, 2, 2, "bf16", setup_s=0.2)
    act, scale = (2, 2) if p["impl"] == "lut_fp16" else (1, 4)
    ops = count_lut_ops(M, N, K, Q, GROUP, act_bytes=act, scale_bytes=scale)
    rows = 1 << (M - 1).bit_length()  # the LUT kernel's batch tile: M rounded up to a power of two
    per_byte_row = LUT_INSTR_PER_BYTE_ROW.get((p["impl"], 1 if M == 1 else 16), 0.0) if M <= 16 else 0.0
    return Roofline(ops.bytes_moved, 2 * M * N * K, "fp32", setup_s=0.6,
                    instructions=per_byte_row * Q * N * K / 8 * rows)


def _bcq_paths(test, p):
    from bench.test_bench_bcq_paths import BATCHES, GROUP, IMPLS, K, N, bytes_moved, runs

    if test == "test_bench_bcq_crossover":
        q = p["q"]
        parts = [(i, m) for i in IMPLS for m in BATCHES if runs(i, q, m)]
        return Roofline(sum(bytes_moved(i, q, m) for i, m in parts), 0, "none", setup_s=0.5,
                        note="auto at batch 16; the paths' times come from the items before")
    q, M, impl = p["q"], p["M"], p["impl"]
    if not runs(impl, q, M):
        return None  # skipped at once
    math_kind = "bf16" if impl in ("torch_bf16", "tc") else "fp32"
    ops = 2 * M * N * K * (q if impl == "tc" else 1)  # the tensor-core path multiplies each binary plane
    return Roofline(bytes_moved(impl, q, M), ops, math_kind, setup_s=0.4 + 0.0 * GROUP)


def _wonly_gemm(test, p):
    from bench.test_bench_wonly_gemm import GROUP, K, N, OWQ_COLUMNS
    from kernels.wonly_gemm import count_wonly_ops

    M, impl = p["M"], p["impl"]
    if impl == "torch_bf16":
        return _gemm(M, N, K, 2, 2, 2, "bf16", setup_s=0.2)
    bits = int(impl[1])
    n_out = OWQ_COLUMNS if impl.endswith("owq") else 0
    ops = count_wonly_ops(M, N, K, bits, GROUP, n_out, act_bytes=2, out_bytes=2)
    per_code = WONLY_INSTR_PER_CODE.get((bits, 1 if M == 1 else 16)) if M <= 16 else None
    return Roofline(ops.bytes_moved, 2 * M * N * K, "bf16", setup_s=0.5,
                    instructions=0.0 if per_code is None else per_code * N * K)


def _decode_attention(test, p):
    from bench.test_bench_decode_attention import roofline_bytes, roofline_ops

    impl, T = p["impl"], p["T"]
    # decode attention's ~1 FLOP per byte is far below any ridge point: the bytes bound it
    return Roofline(roofline_bytes(impl, T), roofline_ops(T), "bf16" if impl == "sdpa_bf16" else "fp32",
                    setup_s=0.4)


def _codebook_gemm(test, p):
    from bench.test_bench_codebook_gemm import K, N, bytes_moved

    M, impl = p["M"], p["impl"]
    if impl == "torch_bf16":
        return _gemm(M, N, K, 2, 2, 2, "bf16", setup_s=0.2)
    # bytes: packed codes + the fp16 codebook + fp16 scales + x + y; math: CUDA-core FMAs at 1 row, the
    # fp16 tensor cores above (kernels/codebook_gemm.py's two forms); instructions: CODEBOOK_INSTR_PER_CODE
    bits = int(impl.removeprefix("codebook"))
    return Roofline(bytes_moved(impl, M), 2 * M * N * K, "fp32" if M == 1 else "bf16", setup_s=0.6,
                    instructions=CODEBOOK_INSTR_PER_CODE.get((bits, 1 if M == 1 else 16), 0.0) * N * K)


ROOFLINES = {"int8_gemm": _int8_gemm, "bitplane": _bitplane, "fp8_gemm": _fp8_gemm, "hadamard": _hadamard,
             "hadamard_ext": _hadamard_ext, "halo": _halo, "lut_gemm": _lut_gemm, "bcq_paths": _bcq_paths,
             "wonly_gemm": _wonly_gemm, "decode_attention": _decode_attention,
             "codebook_gemm": _codebook_gemm}


def _headline(family: str, test: str, p: dict) -> bool:
    """The figures the issue names first: FP8 GEMM vs _scaled_mm, W4/W2 GEMV vs bf16, FWHT vs a copy,
    LUT/BCQ vs bf16, FP8 training linear vs bf16."""
    if family == "fp8_gemm":
        return p["shape"] == (8192, 8192, 8192) and p["gran"] == "tensorwise" and p["impl"] != "scaled_mm_tensorwise"
    if family == "wonly_gemm":
        return p["M"] == 1
    if family == "hadamard":
        return True
    if family == "lut_gemm":
        return p["M"] == 1
    if family == "halo":
        return test == "test_bench_halo_linear" and p["impl"] in ("bf16", "fp8_tensorwise")
    return False


def roofline_for(module_name: str, test: str, params: dict) -> Roofline | None:
    family = module_name.rsplit(".", 1)[-1].removeprefix("test_bench_")
    fn = ROOFLINES.get(family)
    return None if fn is None else fn(test, params)


# ------------------------------------------------------------------------------- the plan
@dataclass
class Item:
    nodeid: str
    family: str
    kind: str  # "bench" or "test"
    headline: bool = False
    roofline: Roofline | None = None
    cost_s: float = TEST_S

    @property
    def predicted_s(self) -> float | None:
        return None if self.roofline is None or (not self.roofline.bytes and not self.roofline.ops) \
            else self.roofline.seconds()


@dataclass
class Step:
    name: str
    family: str
    kind: str
    items: list[Item] = field(default_factory=list)

    @property
    def estimate_s(self) -> float:
        return FAMILY_START_S + sum(i.cost_s for i in self.items)

    def slice_s(self) -> float:
        """The step's time slice: twice its estimate, and at least 30 s more than it."""
        return max(2 * self.estimate_s, self.estimate_s + 30)


#: the kernel family a test or benchmark module belongs to (one pytest process per family and stage)
FAMILY_OF_MODULE = {"bcq_lut": "bcq", "bcq_tc": "bcq", "bcq_objectives": "bcq", "lut_splitk": "bcq", "bcq_paths": "bcq",
                    "lut_gemm": "bcq", "fp8": "fp8", "fp8_cast": "fp8", "fp8_gemm": "fp8", "halo": "fp8",
                    "hadamard": "hadamard", "hadamard_ext": "hadamard", "lowbit": "wonly", "wonly_gemv": "wonly",
                    "wonly_gemm": "wonly", "int8_gemm": "int8", "bitplane": "int8",  # integer GEMMs together
                    "decode_attention": "decode_attention", "codebook_gemm": "bcq"}  # table-lookup GEMMs together


def _family_of(nodeid: str) -> str:
    stem = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return stem.removeprefix("test_bench_").removeprefix("test_kernels_")


def collect(root, select: str | None = None) -> tuple[list[Item], list[str]]:
    """Collect (without running, no GPU needed) the GPU benchmarks and GPU tests; (items, errors)."""
    import contextlib
    import io

    import pytest

    class Collector:
        def __init__(self):
            self.items = []

        def pytest_collection_finish(self, session):
            self.items = list(session.items)

    out = []
    errors = []
    for kind, args in (("bench", ["--benchmark", "-m", "gpu", "bench/"]),
                       ("test", ["-m", "gpu", *sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_kernels_*.py"))])):
        col = Collector()
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            rc = pytest.main([*args, "--collect-only", "-q", "-p", "no:cacheprovider", "-W", "ignore", "--rootdir", str(root),
                              *(["-k", select] if select else [])], plugins=[col])
        if rc not in (0, 5):
            errors.append(f"collecting {' '.join(args)} exited {rc}: " + buf.getvalue().strip()[-600:])
        for it in col.items:
            family = _family_of(it.nodeid)
            if kind == "test":
                out.append(Item(it.nodeid, family, "test"))
                continue
            params = dict(getattr(getattr(it, "callspec", None), "params", {}))
            r = roofline_for(it.module.__name__, it.originalname, params)
            item = Item(it.nodeid, family, "bench", _headline(family, it.originalname, params), r,
                        PYTEST_ITEM_S if r is None else item_cost_s(r))
            out.append(item)
    return out, errors


def plan_steps(items: list[Item]) -> list[Step]:
    """Headline benchmarks first (one step, one process for all families: they are few), then the
    correctness tests per family, then the other benchmarks per family; items keep pytest's order."""
    steps: dict[tuple, Step] = {}
    for it in items:
        stage = "headline" if it.headline else ("tests" if it.kind == "test" else "bench")
        key = (stage, "all" if it.headline else FAMILY_OF_MODULE.get(it.family, it.family))
        if key not in steps:
            steps[key] = Step(f"{stage}:{key[1]}", key[1], it.kind)
        steps[key].items.append(it)
    order = {"headline": 0, "tests": 1, "bench": 2}
    return sorted(steps.values(), key=lambda s: order[s.name.split(":")[0]])


def format_plan(steps: list[Step], budget_s: float, warm_s: float) -> str:
    lines = [f"{'step / item':<100} {'predicted':>11} {'estimate':>9}",
             "-" * 122]
    total = warm_s
    lines.append(f"{'warm the compile cache (python -m bench.sm90 --warm, one process per family)':<100} "
                 f"{'':>11} {warm_s:>8.0f}s")
    for st in steps:
        total += st.estimate_s
        lines.append(f"{st.name + f' ({len(st.items)} items, slice {st.slice_s():.0f} s)':<100} {'':>11} "
                     f"{st.estimate_s:>8.1f}s")
        for it in st.items:
            pred = it.predicted_s
            lines.append(f"  {it.nodeid[-98:]:<98} {'' if pred is None else f'{pred * 1e3:.3f} ms':>11} "
                         f"{it.cost_s:>8.2f}s")
    lines.append("-" * 122)
    verdict = "fits" if total <= budget_s else "DOES NOT FIT"
    lines.append(f"total estimate {total:.0f} s on an H200 ({total / 60:.1f} min); budget {budget_s:.0f} s: {verdict}")
    return "\n".join(lines)
