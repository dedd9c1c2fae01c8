"""Codebook GEMM on the GPU (kernels/codebook_gemm.py) against bf16 torch.matmul.

Compared on one GPU in one run, y = x W^T for a 28672 x 8192 layer (N = 28672 outputs, K = 8192
inputs: a Llama-3-70B-sized MLP up-projection) at batch M = 1 (decode, GEMV) and M = 16:

* ``codebook3``  kernels.codebook_gemm.codebook_gemm, 3-bit codes, fp16 activations
* ``codebook4``  the same at 4 bits
* ``torch_bf16`` torch.matmul(x_bf16, W_bf16^T): the same layer unquantised (cuBLAS)

Weights in NUPES's stored format (kernels/codebook_quant.py): packed codes, one fp16 codebook of
2^bits entries for the layer and an fp16 scale per output row and group of 128 inputs (DGMS's
format is the same without the scales: 2 bytes per 128 weights less). Random codes, codebook and
scales: the time does not depend on the values; a slice of the output is checked against
codebook_gemm_reference, within the kernel's stated tolerance, before timing. At these batch
sizes every implementation is bound by streaming its weights: bits/8 byte per weight + 2/128 for
the scales, against bf16's 2, so the ideal speed-ups are 2 / (3/8 + 1/64) = 5.1x and
2 / (4/8 + 1/64) = 3.9x. Reported per implementation in ``benchmark.extra_info``: time,
dense-equivalent TFLOP/s (2 M N K), ``ratio_vs_<peer>`` (peer time / this time), the bytes it
must move (codes, codebook, scales, x, y: kernels.codebook_gemm.count_codebook_ops) and
``pct_of_hbm_bandwidth`` (= ``pct_of_roofline``) against the GPU's datasheet HBM bandwidth.

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median;
each implementation timed once per run). Runs only under ``pytest --benchmark`` and only with a
CUDA GPU.
"""

import pytest
import torch

from bench.gpu_timing import (
    GPU_ONLY,
    WorkloadCache,
    benchmark_per_call_s,
    gpu_peak,
    machine_info,
    print_past_capture,
)
from kernels.codebook_gemm import codebook_gemm, codebook_gemm_reference, codebook_tolerance, count_codebook_ops
from kernels.lowbit_format import packed_words

pytestmark = GPU_ONLY

N, K = 28672, 8192
GROUP = 128
BITS = [3, 4]
BATCHES = [1, 16]
IMPLS = [f"codebook{b}" for b in BITS] + ["torch_bf16"]
CHECK_ROWS = 256  # output rows checked against the reference before timing


class Workload:
    """The operands of one batch size (both bit widths and the bf16 layer), made once."""

    def __init__(self, M):
        self.M = M
        g = torch.Generator(device="cuda").manual_seed(M)
        dev = "cuda"
        self.packed = {b: torch.randint(-2**31, 2**31 - 1, (N, packed_words(K, b)), dtype=torch.int32, device=dev,
                                        generator=g) for b in BITS}
        self.codebook = {b: torch.randn((1, 1 << b), device=dev, generator=g).to(torch.float16) for b in BITS}
        self.scales = (torch.rand((N, K // GROUP), device=dev, generator=g) * 0.02).to(torch.float16)
        self.x_f16 = torch.randn((M, K), device=dev, generator=g).to(torch.float16)
        self.w_bf16 = torch.randn((N, K), device=dev, generator=g).to(torch.bfloat16)
        self.x_bf16 = self.x_f16.to(torch.bfloat16)
        self.y_bf16 = torch.empty((M, N), dtype=torch.bfloat16, device=dev)

    def check(self):
        """A slice of each codebook output against the float64 reference, within the stated bound."""
        for b in BITS:
            y = self.fn(f"codebook{b}")()[:, :CHECK_ROWS].double()
            ops = (self.x_f16, self.packed[b][:CHECK_ROWS], self.codebook[b], b)
            kw = {"scales": self.scales[:CHECK_ROWS], "group_size": GROUP}
            err = (y - codebook_gemm_reference(*ops, **kw)).abs()
            assert bool((err <= codebook_tolerance(*ops, **kw)).all()), f"codebook{b} outside its tolerance"

    def fn(self, impl):
        if impl.startswith("codebook"):
            b = int(impl.removeprefix("codebook"))
            return lambda: codebook_gemm(self.x_f16, self.packed[b], self.codebook[b], b, scales=self.scales,
                                         group_size=GROUP)
        if impl == "torch_bf16":
            return lambda: torch.matmul(self.x_bf16, self.w_bf16.T, out=self.y_bf16)
        raise ValueError(impl)

    def bytes_moved(self, impl) -> int:
        return bytes_moved(impl, self.M)


def bytes_moved(impl: str, M: int) -> int:
    """HBM bytes an implementation must move once: codes + codebook + scales + x + y (fp32), or
    bf16 x, W and y."""
    if impl == "torch_bf16":
        return 2 * (M * K + N * K + M * N)
    b = int(impl.removeprefix("codebook"))
    return count_codebook_ops(M, N, K, b, 1, GROUP, act_bytes=2, scale_bytes=2, out_bytes=4).bytes_moved


_CACHE = WorkloadCache(lambda M: Workload(M))


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        f"Codebook GEMM benchmark: kernels.codebook_gemm ({'/'.join(map(str, BITS))}-bit codes, one fp16 codebook, "
        f"fp16 scales per {GROUP}) vs bf16 torch.matmul, layer N={N} x K={K}, batches {BATCHES}",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"HBM bandwidth ({peak.model}): {peak.hbm_tb_per_s:g} TB/s; source: {peak.source}" if peak else
        f"HBM bandwidth: unknown for {name!r}; % of bandwidth left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("M", BATCHES, ids=lambda m: f"batch{m}")
def test_bench_codebook_gemm(benchmark, machine, impl, M):
    info, peak = machine
    work = _CACHE.workload(M)
    fn = work.fn(impl)
    benchmark.group = f"codebook gemm {M}x{N}x{K}"
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=_CACHE.timing_key(impl, M))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, M)] = time_s
    moved = work.bytes_moved(impl)
    extra = {
        "impl": impl,
        "shape": f"{M}x{N}x{K}",
        "group_size": GROUP,
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": 2 * M * N * K / time_s / 1e12,  # dense-equivalent
        "bytes_moved": moved,
        "achieved_gb_per_s": moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:
        if peer != impl:
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, M) / time_s
    if peak is not None:
        pct = 100 * moved / time_s / (peak.hbm_tb_per_s * 1e12)
        extra["pct_of_hbm_bandwidth"] = pct
        extra["pct_of_roofline"] = pct
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark (3 and 4 bits at each batch, with the K-split
    reduction) and of the GPU test of tests/test_kernels_codebook_gemm.py, for bench/sm90.py (CPU
    stand-ins; the launches only compile)."""
    from bench.sm90 import site

    for b in BITS:
        packed = torch.zeros((N, packed_words(K, b)), dtype=torch.int32)
        codebook = torch.zeros((1, 1 << b), dtype=torch.float16)
        scales = torch.zeros((N, K // GROUP), dtype=torch.float16)
        for M in BATCHES:
            with site(f"bench codebook{b} {M}x{N}x{K}"):
                codebook_gemm(torch.zeros((M, K), dtype=torch.float16), packed, codebook, b, scales=scales,
                              group_size=GROUP)
    # tests/test_kernels_codebook_gemm.py::test_gpu_decode_shapes, the same cases: NUPES's format at every bit
    # width, activation dtype and form (M = 1 FMA, 16 dot), per-row codebooks without scales at 3 bits
    # (M = 1, 4, 16), each with split_k 1 and automatic
    n_, k_ = 3000, 1024
    cases = [(b, dtype, M, True) for b in (2, 3, 4) for dtype in (torch.float16, torch.bfloat16, torch.float32)
             for M in (1, 16)] + [(3, torch.float16, M, False) for M in (1, 4, 16)]
    for b, dtype, M, nupes_format in cases:
        packed = torch.zeros((n_, packed_words(k_, b)), dtype=torch.int32)
        codebook = torch.zeros((1 if nupes_format else n_, 1 << b), dtype=torch.float16)
        kw = {"scales": torch.zeros((n_, k_ // GROUP), dtype=torch.float16), "group_size": GROUP} \
            if nupes_format else {}
        for split_k in (1, None):
            with site(f"test_gpu_decode_shapes {b}-bit {dtype} M={M} nupes_format={nupes_format} split_k={split_k}"):
                codebook_gemm(torch.zeros((M, k_), dtype=dtype), packed, codebook, b, split_k=split_k, **kw)
