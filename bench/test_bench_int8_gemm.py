"""INT8 GEMM on the GPU: the Triton kernel and its CuPy twin against torch's own paths.

Compared, at each shape (M x N x K), on one GPU in one run:

* ``triton``        kernels.int8_gemm.int8_gemm (int8 -> int32, tensor cores via tl.dot, autotuned)
* ``cupy``          kernels.int8_gemm_cupy.int8_gemm_cupy (raw CUDA, __dp4a on CUDA cores)
* ``torch_int_mm``  torch._int_mm (cuBLASLt IMMA), B passed column-major, its fast layout;
                    needs M > 16, so it is absent at M = 16
* ``torch_bf16``    torch.matmul on bf16 copies: what the same GEMM costs without quantisation

Shapes: 4096^3 and 8192^3 (compute-bound squares) and 16 x 8192 x 8192 (a decode step: 16
tokens through an 8192 x 8192 layer, bound by streaming the weight matrix from HBM).

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run). The peers are measured in the same process, and ``ratio_vs_<peer>`` = peer time / this time (above 1:
this implementation is faster). Each benchmark stores in ``benchmark.extra_info``: the shape,
time per GEMM, TOPS (2 ops per MAC), the ratios, and % of the GPU's dense peak for its number
format and of its roofline (min(peak, HBM bandwidth x arithmetic intensity)).

Runs only under the project's ``pytest --benchmark`` flag, and only with a CUDA GPU.
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
from kernels.int8_gemm import count_ops, int8_gemm
from kernels.int8_gemm_cupy import int8_gemm_cupy
from kernels.testing import cupy_problem

pytestmark = GPU_ONLY


# ---------------------------------------------------------------------------------- workloads
SHAPES = [(4096, 4096, 4096), (8192, 8192, 8192), (16, 8192, 8192)]
IMPLS = ["triton", "cupy", "torch_int_mm", "torch_bf16"]
INT8_IMPLS = {"triton", "cupy", "torch_int_mm"}


class Workload:
    """The operands of one shape, made once and shared by every implementation."""

    def __init__(self, M, N, K):
        self.M, self.N, self.K = M, N, K
        g = torch.Generator(device="cuda").manual_seed(M * 7 + N * 3 + K)
        self.a = torch.randint(-128, 128, (M, K), dtype=torch.int8, device="cuda", generator=g)
        self.b = torch.randint(-128, 128, (K, N), dtype=torch.int8, device="cuda", generator=g)
        self.b_col = self.b.t().contiguous().t()  # column-major copy for cuBLASLt, made outside timing
        self.c = torch.empty((M, N), dtype=torch.int32, device="cuda")
        self.a_bf16, self.b_bf16 = self.a.to(torch.bfloat16), self.b.to(torch.bfloat16)
        self.c_bf16 = torch.empty((M, N), dtype=torch.bfloat16, device="cuda")

    def fn(self, impl):
        """The call to time, or None where the implementation cannot run this shape."""
        if impl == "triton":
            return lambda: int8_gemm(self.a, self.b, out=self.c)
        if impl == "cupy":
            return lambda: int8_gemm_cupy(self.a, self.b, out=self.c)
        if impl == "torch_int_mm":
            if self.M <= 16:  # aten _int_mm_out_cuda: "self.size(0) needs to be greater than 16"
                return None
            return lambda: torch._int_mm(self.a, self.b_col)
        if impl == "torch_bf16":
            return lambda: torch.matmul(self.a_bf16, self.b_bf16, out=self.c_bf16)
        raise ValueError(impl)


_WORKLOADS: dict = {}
_PEER_TIMES: dict = {}  # (impl, shape) -> seconds per call, measured once per run


def _workload(shape) -> Workload:
    if shape not in _WORKLOADS:
        _WORKLOADS.clear()  # one shape's operands on the device at a time (8192^3: ~0.8 GB)
        _PEER_TIMES.clear()
        torch.cuda.empty_cache()
        _WORKLOADS[shape] = Workload(*shape)
    return _WORKLOADS[shape]


def _peer_time_s(impl, shape) -> float | None:
    if (impl, shape) not in _PEER_TIMES:
        fn = None if impl == "cupy" and cupy_problem() is not None else _workload(shape).fn(impl)
        _PEER_TIMES[(impl, shape)] = None if fn is None else median_time_per_call_s(fn, key=("int8_gemm", impl, shape))
    return _PEER_TIMES[(impl, shape)]


# ---------------------------------------------------------------------------------- machine
@pytest.fixture(scope="module")
def machine(request):
    try:
        import cupy

        cupy_version = cupy.__version__
    except ImportError:
        cupy_version = "not installed"
    info = machine_info() | {"cupy": cupy_version}
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        "INT8 GEMM benchmark: triton (kernels.int8_gemm) and cupy (kernels.int8_gemm_cupy, dp4a) vs "
        "torch._int_mm (cuBLASLt, B column-major) and bf16 torch.matmul",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        (f"peak ({peak.model}): INT8 {peak.int8_dense_tops:g} TOPS, BF16 {peak.bf16_dense_tflops:g} TFLOPS dense, "
         f"HBM {peak.hbm_tb_per_s:g} TB/s; source: {peak.source}") if peak else
        f"peak: unknown for {name!r}; % of peak left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


# ---------------------------------------------------------------------------------- benchmark
# impl varies fastest, so the implementations of one shape run together on the same operands.
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bench_int8_gemm(benchmark, machine, impl, shape):
    info, peak = machine
    if impl == "cupy" and cupy_problem() is not None:
        pytest.skip(f"cupy: {cupy_problem()}")
    work = _workload(shape)
    fn = work.fn(impl)
    if fn is None:
        pytest.skip(f"{impl} cannot run {shape}: torch._int_mm needs M > 16")

    benchmark.group = "int8 gemm " + "x".join(map(str, shape))
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=("int8_gemm", impl, shape))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _PEER_TIMES[(impl, shape)] = time_s

    ops = count_ops(*shape)
    tops = ops.ops / time_s / 1e12
    extra = {
        "impl": impl,
        "shape": "x".join(map(str, shape)),
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": tops,
        "achieved_gb_per_s_ideal_bytes": ops.bytes_moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton", "cupy")},
    }
    for peer in IMPLS:
        if peer != impl:
            peer_s = _peer_time_s(peer, shape)
            extra[f"ratio_vs_{peer}"] = None if peer_s is None else peer_s / time_s
    if peak is not None:
        # The rate the format allows, and the roofline: on the skinny shape HBM bandwidth, not
        # the tensor cores, is the limit (ideal bytes, each operand moved once).
        peak_tops = peak.int8_dense_tops if impl in INT8_IMPLS else peak.bf16_dense_tflops
        bytes_moved = ops.bytes_moved if impl in INT8_IMPLS else 2 * (ops.M * ops.K + ops.K * ops.N + ops.M * ops.N)
        roofline_tops = min(peak_tops, peak.hbm_tb_per_s * ops.ops / bytes_moved)
        extra["peak_tops"] = peak_tops
        extra["peak_format"] = "INT8 dense" if impl in INT8_IMPLS else "BF16 dense"
        extra["pct_of_peak"] = 100 * tops / peak_tops
        extra["pct_of_roofline"] = 100 * tops / roofline_tops
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark and of tests/test_kernels_int8_gemm.py's GPU tests,
    for bench/sm90.py (CPU stand-ins; the launches only compile)."""
    from bench.sm90 import site

    def mat(rows, cols, layout="contiguous"):
        if layout == "transposed":
            return torch.zeros((cols, rows), dtype=torch.int8).t()
        if layout == "step":
            return torch.zeros((rows, 2 * cols), dtype=torch.int8)[:, ::2]
        return torch.zeros((rows, cols), dtype=torch.int8)

    for M, N, K in SHAPES:
        with site(f"bench {M}x{N}x{K}"):
            int8_gemm(mat(M, K), mat(K, N))
    # the GPU tests: small shapes (one fixed tile), the autotuned 1024x1024x4096, strided views
    for M, N, K in [(1, 1, 1), (2, 3, 5), (17, 8, 8), (31, 37, 41), (32, 64, 128), (64, 64, 64), (200, 96, 800),
                    (1024, 1024, 4096)]:
        with site(f"test_gpu_matches_torch_int_mm {M}x{N}x{K}"):
            int8_gemm(mat(M, K), mat(K, N))
    for la in ("contiguous", "transposed", "step"):
        for lb in ("contiguous", "transposed", "step"):
            with site(f"test_non_contiguous_inputs {la} x {lb}"):
                int8_gemm(mat(35, 70, la), mat(70, 33, lb))
    with site("test_gpu_large_column_major_operands"):
        int8_gemm(mat(1024, 4096, "transposed"), mat(4096, 768, "transposed"))
