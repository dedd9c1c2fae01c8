"""Bit-plane GEMM on the GPU (kernels/bitplane_gemm.py) against torch._int_mm and bf16 matmul.

Compared at each shape (M x N x K) on one GPU in one run, for operand precisions b = 1..8:

* ``popcount``  bitplane_gemm_popcount: b-bit activations and b-bit weights as packed planes,
                AND + popc per plane pair on CUDA cores: work grows with b^2
* ``dot``       bitplane_gemm_dot: int8 activations, b-bit weight planes unpacked to int8 and
                fed to tl.dot (tensor cores): weight bytes grow with b, the math does not
* peers         ``torch_int_mm`` (torch._int_mm, cuBLASLt int8 IMMA, W column-major) and
                ``torch_bf16`` (torch.matmul on bf16 copies), timed once per shape

Shapes: 2048^3 (compute-bound; small enough that the 64 plane pairs of b = 8 stay in budget) and
32 x 8192 x 8192 (a decode-like step, bound by streaming the weights; 32 because _int_mm needs
M > 16). Operands are packed before timing; each result is checked bit-exactly against torch
before timing.

Per benchmark ``extra_info``: shape, bits, time_s, tops (dense-equivalent, 2 M N K / time),
ratio_vs_torch_int_mm, ratio_vs_torch_bf16 (peer time / this time: above 1 this kernel is
faster), pct_of_peak (of the GPU's dense INT8 tensor-core peak: the rate the int8 peer is held
to) and, on the b = 8 entry of each (shape, method), ``crossover_bits_vs_torch_int_mm`` and
``crossover_bits_vs_torch_bf16``: the largest b (of those measured in this run, b ascending) at
which the kernel is still faster than the peer, or 0 when it never is. Timing: bench/gpu_timing.
Runs only under ``pytest --benchmark`` with a CUDA GPU; 2 shapes x 2 methods x 8 bits.
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
from kernels.bitplane_gemm import (
    bitplane_gemm_dot,
    bitplane_gemm_popcount,
    bitplane_gemm_reference,
    count_bitplane_ops,
    pack_bitplanes,
)

pytestmark = GPU_ONLY

SHAPES = [(2048, 2048, 2048), (32, 8192, 8192)]
METHODS = ["popcount", "dot"]
BITS = list(range(1, 9))
PEERS = ["torch_int_mm", "torch_bf16"]
CHECK = 64  # rows of C checked against the reference before timing


class Workload:
    """One shape's int8 operands and their packed planes (per b), made once per shape."""

    def __init__(self, M, N, K):
        self.M, self.N, self.K = M, N, K
        g = torch.Generator(device="cuda").manual_seed(M + 3 * N + 7 * K)
        self.a8 = torch.randint(-128, 128, (M, K), dtype=torch.int8, device="cuda", generator=g)
        self.w8 = torch.randint(-128, 128, (K, N), dtype=torch.int8, device="cuda", generator=g)
        self.w_col = self.w8.t().contiguous().t()
        self.a16, self.w16 = self.a8.to(torch.bfloat16), self.w8.to(torch.bfloat16)
        self.planes = {}

    def operands(self, bits):
        """b-bit signed copies (arithmetic right shift of the int8 data) and their planes."""
        if bits not in self.planes:
            self.planes.clear()
            a = self.a8 >> (8 - bits)
            w = self.w8 >> (8 - bits)
            self.planes[bits] = (a, w, pack_bitplanes(a, bits), pack_bitplanes(w.t(), bits))
        return self.planes[bits]

    def fn(self, method, bits):
        a, w, ap, wp = self.operands(bits)
        if method == "popcount":
            call = lambda: bitplane_gemm_popcount(ap, wp, self.K)
            ref_a = a
        else:
            call = lambda: bitplane_gemm_dot(self.a8, wp)
            ref_a = self.a8
        c = call()
        want = bitplane_gemm_reference(ref_a[:CHECK], w)
        assert torch.equal(c[:CHECK], want), f"{method} b={bits} differs from the torch reference"
        return call

    def peer(self, impl):
        if impl == "torch_int_mm":
            return lambda: torch._int_mm(self.a8, self.w_col)
        return lambda: torch.matmul(self.a16, self.w16)


_WORK: dict = {}
_PEER_S: dict = {}
_TIMES: dict = {}  # (shape, method, bits) -> seconds, filled as the benchmarks run


def _workload(shape) -> Workload:
    if shape not in _WORK:
        _WORK.clear()
        _PEER_S.clear()
        torch.cuda.empty_cache()
        _WORK[shape] = Workload(*shape)
    return _WORK[shape]


def _peer_s(impl, shape) -> float:
    if (impl, shape) not in _PEER_S:
        fn = _workload(shape).peer(impl)
        _PEER_S[(impl, shape)] = median_time_per_call_s(fn, key=("bitplane", impl, shape))
    return _PEER_S[(impl, shape)]


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    peak = gpu_peak(info["gpu"])
    print_past_capture(request, [
        "Bit-plane GEMM benchmark: kernels.bitplane_gemm (popcount, unpack + tl.dot) vs torch._int_mm and bf16",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"peak: INT8 {peak.int8_dense_tops:g} TOPS dense ({peak.source})" if peak else "peak: unknown GPU",
    ])
    return info, peak


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bench_bitplane(benchmark, machine, shape, method, bits):
    info, peak = machine
    work = _workload(shape)
    fn = work.fn(method, bits)
    benchmark.group = f"bitplane {method} " + "x".join(map(str, shape))
    time_s, reps = benchmark_per_call_s(benchmark, fn)
    if time_s is None:
        return
    _TIMES[(shape, method, bits)] = time_s
    M, N, K = shape
    ops = count_bitplane_ops(M, N, K, bits if method == "popcount" else 8, bits, method)
    tops = ops.dense_ops / time_s / 1e12
    extra = {"impl": f"bitplane_{method}", "shape": "x".join(map(str, shape)), "bits": bits,
             "a_bits": bits if method == "popcount" else 8, "w_bits": bits, "reps_per_round": reps,
             "time_s": time_s, "tops": tops, "ideal_bytes": ops.bytes, "gpu": info["gpu"]}
    for peer in PEERS:
        extra[f"ratio_vs_{peer}"] = _peer_s(peer, shape) / time_s
        extra[f"{peer}_time_s"] = _peer_s(peer, shape)
    if peak is not None:
        extra["pct_of_peak"] = 100 * tops / peak.int8_dense_tops
        extra["peak_format"] = "INT8 dense (tensor cores)"
    if bits == BITS[-1]:
        for peer in PEERS:
            measured = [b for b in BITS if (shape, method, b) in _TIMES]
            faster = [b for b in measured if _TIMES[(shape, method, b)] < _peer_s(peer, shape)]
            extra[f"crossover_bits_vs_{peer}"] = max(faster) if faster else 0
            extra["crossover_bits_measured"] = measured
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark (both methods, b = 1..8, both shapes) and of
    tests/test_kernels_bitplane.py's GPU test, for bench/sm90.py (CPU stand-ins of the packed
    shapes; the launches only compile)."""
    from bench.sm90 import site

    def planes(bits, rows, k):
        return torch.zeros((bits, rows, -(-k // 32)), dtype=torch.int32)

    for M, N, K in SHAPES:
        a8 = torch.zeros((M, K), dtype=torch.int8)
        for bits in BITS:
            wp = planes(bits, N, K)
            with site(f"bench {M}x{N}x{K} popcount b={bits}"):
                bitplane_gemm_popcount(planes(bits, M, K), wp, K)
            with site(f"bench {M}x{N}x{K} dot b={bits}"):
                bitplane_gemm_dot(a8, wp)
    for popcount in ("hw", "swar"):
        for a_bits, w_bits, m, n, k in ((1, 1, 130, 257, 1000), (8, 8, 33, 70, 300), (2, 4, 64, 64, 4096)):
            wp = planes(w_bits, n, k)
            with site(f"test_gpu_kernels_exact[{popcount}] popcount {a_bits}x{w_bits}b {m}x{n}x{k}"):
                bitplane_gemm_popcount(planes(a_bits, m, k), wp, k, popcount=popcount)
            with site(f"test_gpu_kernels_exact[{popcount}] dot {w_bits}b {m}x{n}x{k}"):
                bitplane_gemm_dot(torch.zeros((m, k), dtype=torch.int8), wp)
