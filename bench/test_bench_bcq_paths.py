"""The three binary-coded GEMM paths against bf16 torch.matmul across batch sizes, and their crossover.

y = x W^T for the 8192 -> 28672 layer (N = 28672 outputs, K = 8192 inputs: a Llama-3-70B-sized MLP
up-projection), W binary-coded with q = 2, 3, 4 planes and one fp16 scale per plane, output row
and 128 input columns; fp16 activations, fp32 output:

* ``lut``        kernels.lut_gemm.lut_gemm: Triton, tables in registers (q = 3 only, see below)
* ``cupy``       kernels.lut_gemm_cupy.lut_gemm_cupy: raw CUDA, tables in shared memory
* ``tc``         kernels.bcq_tc_gemm.bcq_tc_gemm: bits unpacked to +-1, ``tl.dot``, fp32 accumulate
* ``torch_bf16`` torch.matmul(x_bf16, W_bf16^T): the same layer unquantised (cuBLAS)

This runs inside the GPU check's shared few-minute budget, so the grid is thinned where it says
nothing new (every skipped cell is reported as skipped, with the reason):

* q = 3 at batch M = 1, 4, 16, 64, 256, 1024 (the crossover sweep); q = 2 and 4 at the batches
  the issue sets targets for, 1, 16 and 256;
* the table paths up to batch 64: their work grows with M (one table read per weight byte and
  batch row), so by then they have long lost to the tensor cores;
* the Triton LUT kernel at q = 3, batch 1 and 16 only (its fixed plan, kernels.lut_gemm.lut_gemm_plan,
  is the one bench/test_bench_lut_gemm.py times); the CuPy kernel is the table path of the sweep.

Each implementation is timed once; ratios are taken against the peers already timed at that
(q, batch) (torch_bf16 runs first, tc last, so tc carries the ratios vs every table path).

Per implementation, in ``benchmark.extra_info``: time, dense-equivalent TFLOP/s (2 M N K),
``ratio_vs_<peer>`` (peer time / this time, for every peer timed at that batch), the bytes it must
move (each operand once: kernels' op counters), ``pct_of_hbm_bandwidth`` (those bytes per second
over the datasheet HBM bandwidth) and ``pct_of_roofline`` (the roofline time max(bytes / bandwidth,
2 M N K / bf16 tensor peak) over the measured time), plus the issue's speed target vs bf16 where
there is one (batch 1: >= 6x at q = 2, 4.3x at q = 3, 3.3x at q = 4; batch 16: >= 3x; batch >= 256:
>= 0.9x) and whether this implementation meets it. ``test_bench_bcq_crossover`` (one per q) records
``crossover_batch``: the smallest batch at which ``tc`` is faster than every table path timed
there (None if none up to 64), which is what kernels.bcq_gemm.TC_CROSSOVER_BATCH should be, and
times the dispatcher ``bcq_gemm(path="auto")`` at batch 16.

Weights are random bits and scales (the time does not depend on the values), made once per q and
shared by every batch; the bf16 weight once for all. Before an implementation is timed on a
batch, a 256-row slice of its output is checked against the reference within its stated bound.
Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run). Runs only under ``pytest --benchmark`` and only with a CUDA GPU.
"""

import pytest
import torch

from bench.gpu_timing import (
    GPU_ONLY,
    benchmark_per_call_s,
    gpu_peak,
    machine_info,
    median_time_per_call_s,
    print_past_capture,
)
from kernels.bcq_gemm import (
    TC_CROSSOVER_BATCH,
    bcq_gemm,
    bcq_gemm_reference,
    choose_path,
)
from kernels.bcq_tc_gemm import bcq_tc_gemm, bcq_tc_tolerance
from kernels.lut_gemm import count_lut_ops, lut_gemm
from kernels.lut_gemm_cupy import cupy_unavailable_reason, lut_gemm_cupy

pytestmark = GPU_ONLY

N, K = 28672, 8192
GROUP = 128
QS = [2, 3, 4]
BATCHES = [1, 4, 16, 64, 256, 1024]
BATCHES_BY_Q = {2: (1, 16, 256), 3: tuple(BATCHES), 4: (1, 16, 256)}  # module docstring
IMPLS = ["torch_bf16", "lut", "cupy", "tc"]  # timing order: the baseline first, tc last
TABLE_PATHS = ("lut", "cupy")
TABLE_MAX_BATCH = 64  # table paths are timed up to here (module docstring)
LUT_CASES = ((3, 1), (3, 16))  # (q, batch) of the Triton LUT kernel (module docstring)
CHECK_ROWS = 256  # output rows checked against the reference before timing
#: the issue's speed targets vs bf16 torch.matmul: (q or None for any, batch or ">=256") -> ratio
TARGETS = {(2, 1): 6.0, (3, 1): 4.3, (4, 1): 3.3}


def target_ratio(q: int, M: int):
    if M == 1:
        return TARGETS[(q, 1)]
    if M == 16:
        return 3.0
    if M >= 256:
        return 0.9
    return None


def runs(impl: str, q: int, M: int) -> bool:
    if M not in BATCHES_BY_Q[q]:
        return False
    if impl in TABLE_PATHS and M > TABLE_MAX_BATCH:
        return False
    if impl == "lut" and (q, M) not in LUT_CASES:
        return False
    if impl == "cupy":
        return cupy_unavailable_reason() is None  # CuPy, a GPU and its runtime compiler (NVRTC)
    return True


class Weights:
    """One q's binary-coded weight (shared by every batch) and the bf16 weight (shared by all q)."""

    w_bf16 = None

    def __init__(self, q):
        g = torch.Generator(device="cuda").manual_seed(q)
        self.q = q
        self.packed = torch.randint(0, 256, (q, N, K // 8), dtype=torch.uint8, device="cuda", generator=g)
        self.scales = ((torch.rand((q, N, K // GROUP), device="cuda", generator=g) * 0.02 - 0.005)
                       .to(torch.float16))
        if Weights.w_bf16 is None:
            Weights.w_bf16 = torch.randn((N, K), device="cuda", generator=g).to(torch.bfloat16)


class Cache:
    """The current q's weights, each batch's activations, checked implementations and times."""

    def __init__(self):
        self.weights, self.x, self.checked, self.times = None, {}, set(), {}

    def w(self, q) -> Weights:
        if self.weights is None or self.weights.q != q:
            self.weights = None
            torch.cuda.empty_cache()
            self.weights = Weights(q)
        return self.weights

    def xs(self, M):
        if M not in self.x:
            g = torch.Generator(device="cuda").manual_seed(1000 + M)
            x = torch.randn((M, K), device="cuda", generator=g).to(torch.float16)
            self.x[M] = (x, x.to(torch.bfloat16), torch.empty((M, N), dtype=torch.bfloat16, device="cuda"))
        return self.x[M]

    def fn(self, impl, q, M):
        w = self.w(q)
        x, x_bf16, y_bf16 = self.xs(M)
        if impl == "lut":
            return lambda: lut_gemm(x, w.packed, w.scales, GROUP)
        if impl == "cupy":
            return lambda: lut_gemm_cupy(x, w.packed, w.scales, GROUP)
        if impl == "tc":
            return lambda: bcq_tc_gemm(x, w.packed, w.scales, GROUP)
        if impl == "auto":
            return lambda: bcq_gemm(x, w.packed, w.scales, GROUP, path="auto")
        if impl == "torch_bf16":
            return lambda: torch.matmul(x_bf16, Weights.w_bf16.T, out=y_bf16)
        raise ValueError(impl)

    def check(self, impl, q, M):
        """A slice of the output against the reference: the tc bound for tc, fp32 rounding for tables."""
        if impl == "torch_bf16" or (impl, q, M) in self.checked:
            return
        w = self.w(q)
        x = self.xs(M)[0]
        p, s = w.packed[:, :CHECK_ROWS], w.scales[:, :CHECK_ROWS]
        got = self.fn(impl, q, M)()[:, :CHECK_ROWS].double()
        want = bcq_gemm_reference(x, p, s, GROUP).double()
        if impl == "tc" or (impl == "auto" and choose_path(M, x.dtype, s.dtype, GROUP, "cuda") == "tc"):
            bound = bcq_tc_tolerance(x, p, s, GROUP)
        else:
            w_abs = s.double().abs().sum(0).repeat_interleave(GROUP, -1)
            bound = (K + 16) * 2.0**-24 * (x.double().abs() @ w_abs.T)
        assert bool(((got - want).abs() <= bound).all()), f"{impl} q={q} M={M} outside its stated bound"
        self.checked.add((impl, q, M))

    def time_s(self, impl, q, M) -> float:
        if (impl, q, M) not in self.times:
            self.check(impl, q, M)
            fn = self.fn(impl, q, M)
            self.times[(impl, q, M)] = median_time_per_call_s(fn, key=("bcq_paths", impl, q, M))
        return self.times[(impl, q, M)]


_CACHE = Cache()


def bytes_moved(impl, q, M) -> int:
    if impl == "torch_bf16":
        return 2 * (M * K + N * K + M * N)
    return count_lut_ops(M, N, K, q, GROUP, act_bytes=2, scale_bytes=2, out_bytes=4).bytes_moved


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        (f"binary-coded GEMM paths: {', '.join(IMPLS)} (group {GROUP}, q {QS}), layer N={N} x K={K}, "
         f"batches by q {BATCHES_BY_Q} (table paths up to {TABLE_MAX_BATCH}; Triton LUT at (q, batch) {LUT_CASES})"),
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        (f"peaks ({peak.model}): HBM {peak.hbm_tb_per_s:g} TB/s, bf16 {peak.bf16_dense_tflops:g} TFLOP/s dense; "
         f"source: {peak.source}") if peak else f"peaks: unknown for {name!r}; % of bandwidth and roofline left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


def _record(benchmark, info, peak, impl, q, M, time_s, reps):
    moved = bytes_moved(impl, q, M)
    extra = {
        "impl": impl,
        "shape": f"{M}x{N}x{K}",
        "q": q,
        "group_size": GROUP,
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": 2 * M * N * K / time_s / 1e12,  # dense-equivalent
        "bytes_moved": moved,
        "achieved_gb_per_s": moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:  # the baseline always; the others when already timed (module docstring)
        if peer != impl and runs(peer, q, M) and (peer == "torch_bf16" or (peer, q, M) in _CACHE.times):
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, q, M) / time_s
    target = target_ratio(q, M)
    if target is not None and impl != "torch_bf16":
        extra["target_ratio_vs_torch_bf16"] = target
        extra["meets_target"] = extra["ratio_vs_torch_bf16"] >= target
    if peak is not None:
        extra["pct_of_hbm_bandwidth"] = 100 * moved / time_s / (peak.hbm_tb_per_s * 1e12)
        roofline_s = max(moved / (peak.hbm_tb_per_s * 1e12), 2 * M * N * K / (peak.bf16_dense_tflops * 1e12))
        extra["pct_of_roofline"] = 100 * roofline_s / time_s
    benchmark.extra_info.update(extra)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("M", BATCHES, ids=lambda m: f"batch{m}")
@pytest.mark.parametrize("q", QS, ids=lambda q: f"q{q}")
def test_bench_bcq_paths(benchmark, machine, q, M, impl):
    if not runs(impl, q, M):
        pytest.skip(f"{impl} is not timed at q={q}, batch {M} (module docstring)"
                    + (f"; {cupy_unavailable_reason()}" if impl == "cupy" and M in BATCHES_BY_Q[q]
                       and M <= TABLE_MAX_BATCH else ""))
    info, peak = machine
    _CACHE.check(impl, q, M)
    benchmark.group = f"bcq gemm q={q} {M}x{N}x{K}"
    time_s, reps = benchmark_per_call_s(benchmark, _CACHE.fn(impl, q, M), key=("bcq_paths", impl, q, M))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, q, M)] = time_s
    _record(benchmark, info, peak, impl, q, M, time_s, reps)


def crossover_batch(q: int):
    """Smallest batch at which tc beats every table path timed there (None: not up to TABLE_MAX_BATCH)."""
    for M in BATCHES_BY_Q[q]:
        tables = [_CACHE.time_s(p, q, M) for p in TABLE_PATHS if runs(p, q, M)]
        if tables and _CACHE.time_s("tc", q, M) < min(tables):
            return M
    return None


@pytest.mark.parametrize("q", QS, ids=lambda q: f"q{q}")
def test_bench_bcq_crossover(benchmark, machine, q):
    info, peak = machine
    M = 16
    _CACHE.check("auto", q, M)
    benchmark.group = "bcq gemm crossover"
    time_s, reps = benchmark_per_call_s(benchmark, _CACHE.fn("auto", q, M))
    if time_s is None:
        return
    _record(benchmark, info, peak, "auto", q, M, time_s, reps)
    benchmark.extra_info.update({
        "crossover_batch": crossover_batch(q),
        "tc_crossover_batch_constant": TC_CROSSOVER_BATCH,
        "auto_path_at_batch16": choose_path(M, torch.float16, torch.float16, GROUP, "cuda"),
        "times_s_by_path_and_batch": {f"{impl}@{m}": _CACHE.time_s(impl, q, m)
                                      for impl in IMPLS for m in BATCHES if runs(impl, q, m)},
    })


def sm90_launches() -> None:
    """Every Triton launch of this benchmark (tc at every timed (q, batch), the Triton LUT kernel at
    its cases, the dispatcher at batch 16) and of tests/test_kernels_bcq_tc.py's GPU tests, for
    bench/sm90.py (CPU stand-ins of the packed shapes; the launches only compile). The CuPy kernel
    is not Triton and is left out."""
    from bench.sm90 import site

    def case(M, N_, K_, q, g, x_dtype, s_dtype):
        return (torch.zeros((M, K_), dtype=x_dtype), torch.zeros((q, N_, K_ // 8), dtype=torch.uint8),
                torch.zeros((q, N_, K_ // g), dtype=s_dtype))

    for q in QS:
        packed = torch.zeros((q, N, K // 8), dtype=torch.uint8)
        scales = torch.zeros((q, N, K // GROUP), dtype=torch.float16)
        for M in BATCHES_BY_Q[q]:
            x = torch.zeros((M, K), dtype=torch.float16)
            with site(f"bench tc q={q} {M}x{N}x{K}"):
                bcq_tc_gemm(x, packed, scales, GROUP)
            if (q, M) in LUT_CASES:
                with site(f"bench lut q={q} {M}x{N}x{K}"):
                    lut_gemm(x, packed, scales, GROUP)
            if M == 16:
                with site(f"bench auto q={q} {M}x{N}x{K}"):
                    bcq_gemm(x, packed, scales, GROUP, path="auto")
        del packed, scales

    # tests/test_kernels_bcq_tc.py, the cuda parameter of each DEVICES test and the gpu tests
    for M, N_, K_, q, g in ((1, 1, 16, 1, 16), (17, 9, 48, 2, 16)):
        with site(f"test_tc_integer_path_is_exact {M}x{N_}x{K_} q={q}"):
            bcq_tc_gemm(*case(M, N_, K_, q, g, torch.int8, torch.int32), g)
    with site("test_tc_integer_extremes_and_strided_views"):
        bcq_tc_gemm(*case(2, 3, 96, 4, 32, torch.int8, torch.int32), 32)
        x_t = torch.zeros_like(torch.zeros((32, 4), dtype=torch.int8).T)  # .to("cuda") keeps a dense view's strides
        p_big = torch.zeros((3, 12, 4), dtype=torch.uint8)[:, ::2]  # sliced on the device
        s_t = torch.zeros_like(torch.zeros((3, 2, 6), dtype=torch.int32).transpose(1, 2))
        bcq_tc_gemm(x_t, p_big, s_t, 16)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for plane_dots in (False, True):
            with site(f"test_tc_float_path_within_stated_tolerance {dtype} plane_dots={plane_dots}"):
                bcq_tc_gemm(*case(2, 20, 64, 3, 32, dtype, dtype), 32, plane_dots=plane_dots)
    for dtype in (torch.float16, torch.bfloat16):
        args = case(5, 12, 64, 3, 16, dtype, dtype)
        with site(f"test_integer_valued_float_operands_are_exact_on_every_path {dtype}"):
            for plane_dots in (False, True):
                bcq_tc_gemm(*args, 16, plane_dots=plane_dots)
            if dtype == torch.float16:
                lut_gemm(*args, 16)
    for M in (1, 16, 300):
        with site(f"test_gpu_tc_and_dispatcher_at_benchmark_tiles M={M}"):
            args = case(M, 1000, 1024, 3, 128, torch.float16, torch.float16)
            for path in ("tc", "auto"):
                bcq_gemm(*args, 128, path=path)
            bcq_tc_gemm(*case(M, 1000, 1024, 3, 128, torch.int8, torch.int32), 128)
