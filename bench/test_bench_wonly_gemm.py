"""Weight-only W4 / W3 / W2 GEMM on the GPU (kernels/wonly_gemm.py) against bf16 torch.matmul.

Compared on one GPU in one run, y = x W^T for a 28672 x 8192 layer (N = 28672 outputs, K = 8192
inputs: a Llama-3-70B-sized MLP up-projection) at batch M = 1 (decode, GEMV), 16 and 256:

* ``w4``, ``w3``, ``w2``  kernels.wonly_gemm.wonly_gemm, bf16 activations and output, fp32
                          accumulation, groups of 128 (fp16 scale + uint8 zero point per group)
* ``w3_owq``              W3 plus 32 fp16 outlier columns (OWQ) added inside the same kernel
* ``torch_bf16``          torch.matmul(x_bf16, W_bf16^T): the same layer unquantised (cuBLAS)

Weights are random words, scales and zero points (the time does not depend on the values); a
slice of every output is checked against wonly_gemm_reference within wonly_tolerance before
timing. At batch 1-16 everything is bound by streaming the weights: 2 bytes per weight for bf16,
bits/8 + 3/128 for the kernels, so the ideal speed-ups are about 3.8x (W4), 5.0x (W3), 7.3x (W2).
At 256 the bf16 GEMM approaches the tensor-core roofline and dequantisation is extra work.
Reported in ``benchmark.extra_info``: time, dense-equivalent TFLOP/s (2 M N K), ``ratio_vs_<peer>``
(peer time / this time), the ideal bytes moved (kernels.wonly_gemm.count_wonly_ops), achieved
GB/s, ``pct_of_hbm_bandwidth`` against the datasheet bandwidth of the GPU (bench/test_bench_int8_gemm
.GPU_PEAKS, with its source) and ``pct_of_roofline`` (min(bf16 dense peak, bandwidth x intensity)).

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run). Runs only under ``pytest --benchmark`` and only with a CUDA GPU.
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
from kernels.lowbit_format import packed_words
from kernels.wonly_gemm import (
    count_wonly_ops,
    wonly_gemm,
    wonly_gemm_reference,
    wonly_tolerance,
)

pytestmark = GPU_ONLY

N, K = 28672, 8192
GROUP = 128
OWQ_COLUMNS = 32
BATCHES = [1, 16, 256]
IMPLS = ["w4", "w3", "w2", "w3_owq", "torch_bf16"]
CHECK_ROWS = 256  # output rows checked against the reference before timing


def _bits(impl) -> int:
    return int(impl[1])


class Workload:
    """The operands of one batch size, made once and shared by every implementation."""

    def __init__(self, M):
        self.M = M
        dev = "cuda"
        g = torch.Generator(device=dev).manual_seed(M)
        self.x = torch.randn((M, K), device=dev, generator=g).to(torch.bfloat16)
        self.ops = {}
        for bits in (4, 3, 2):
            self.ops[bits] = {
                "qweight": torch.randint(-(2**31), 2**31 - 1, (packed_words(K, bits), N), dtype=torch.int32,
                                         device=dev, generator=g),
                "scales": (torch.rand((K // GROUP, N), device=dev, generator=g) * 0.02).to(torch.float16),
                "zeros": torch.randint(0, 2**bits, (K // GROUP, N), dtype=torch.uint8, device=dev, generator=g),
            }
        idx = torch.randperm(K, device=dev, generator=g)[:OWQ_COLUMNS].sort().values.to(torch.int32)
        self.outliers = (idx, torch.randn((OWQ_COLUMNS, N), device=dev, generator=g).to(torch.float16))
        self.w_bf16 = torch.randn((N, K), device=dev, generator=g).to(torch.bfloat16)
        self.y_bf16 = torch.empty((M, N), dtype=torch.bfloat16, device=dev)

    def args(self, impl, rows=None):
        o = self.ops[_bits(impl)]
        cut = slice(None) if rows is None else slice(0, rows)
        outl = (self.outliers[0], self.outliers[1][:, cut]) if impl.endswith("owq") else (None, None)
        return (self.x, o["qweight"][:, cut], o["scales"][:, cut], o["zeros"][:, cut], _bits(impl), GROUP, *outl)

    def check(self):
        for impl in IMPLS[:-1]:
            args = self.args(impl, CHECK_ROWS)
            y = wonly_gemm(*self.args(impl))[:, :CHECK_ROWS].double()
            diff = (y - wonly_gemm_reference(*args).double()).abs()
            assert bool((diff <= wonly_tolerance(*args)).all()), f"{impl} outside its stated tolerance"

    def fn(self, impl):
        if impl == "torch_bf16":
            return lambda: torch.matmul(self.x, self.w_bf16.T, out=self.y_bf16)
        args = self.args(impl)
        return lambda: wonly_gemm(*args)

    def bytes_moved(self, impl) -> int:
        if impl == "torch_bf16":
            return 2 * (self.M * K + N * K + self.M * N)
        n_out = OWQ_COLUMNS if impl.endswith("owq") else 0
        return count_wonly_ops(self.M, N, K, _bits(impl), GROUP, n_out, act_bytes=2, out_bytes=2).bytes_moved


_CACHE = WorkloadCache(lambda M: Workload(M))


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        f"weight-only GEMM benchmark: kernels.wonly_gemm (W4/W3/W2, group {GROUP}, W3 + {OWQ_COLUMNS} OWQ "
        f"columns; bf16 activations) vs bf16 torch.matmul, layer N={N} x K={K}, batches {BATCHES}",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"HBM bandwidth ({peak.model}): {peak.hbm_tb_per_s:g} TB/s, BF16 {peak.bf16_dense_tflops:g} TFLOPS dense; "
        f"source: {peak.source}" if peak else f"HBM bandwidth: unknown for {name!r}; % of bandwidth left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("M", BATCHES, ids=lambda m: f"batch{m}")
def test_bench_wonly_gemm(benchmark, machine, impl, M):
    info, peak = machine
    work = _CACHE.workload(M)
    fn = work.fn(impl)
    benchmark.group = f"weight-only gemm {M}x{N}x{K}"
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=_CACHE.timing_key(impl, M))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, M)] = time_s
    bytes_moved = work.bytes_moved(impl)
    flops = 2 * M * N * K
    extra = {
        "impl": impl,
        "shape": f"{M}x{N}x{K}",
        "group_size": GROUP,
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": flops / time_s / 1e12,  # dense-equivalent TFLOP/s (the key gpu_check tabulates)
        "bytes_moved": bytes_moved,
        "achieved_gb_per_s": bytes_moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:
        if peer != impl:
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, M) / time_s
    if peak is not None:
        bandwidth = peak.hbm_tb_per_s * 1e12
        extra["pct_of_hbm_bandwidth"] = 100 * bytes_moved / time_s / bandwidth
        roofline_flops = min(peak.bf16_dense_tflops * 1e12, bandwidth * flops / bytes_moved)
        extra["pct_of_roofline"] = 100 * flops / time_s / roofline_flops
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every weight-only launch of this benchmark and of the GPU tests (device "cuda") of
    tests/test_kernels_lowbit.py and tests/test_kernels_wonly_gemv.py, for bench/sm90.py: CPU
    stand-ins of the right shapes, dtypes and strides (no quantisation); the launches only compile."""
    from bench.sm90 import site
    from kernels.wonly_gemm import quantize_per_row_int8, w8a8_gemm

    def operands(M, N, K, bits, g, n_out=0, dtype=torch.bfloat16):
        G = K // (g or K)
        outl = ((torch.arange(n_out, dtype=torch.int32), torch.zeros((n_out, N), dtype=torch.float16))
                if n_out else (None, None))
        return (torch.empty((M, K), dtype=dtype), torch.zeros((packed_words(K, bits), N), dtype=torch.int32),
                torch.ones((G, N), dtype=torch.float16), torch.zeros((G, N), dtype=torch.uint8), bits, g, *outl)

    # the benchmark: every batch, bits and OWQ variant at N x K, groups of GROUP, bf16
    for M in BATCHES:
        for impl in IMPLS[:-1]:
            with site(f"bench {impl} {M}x{N}x{K}"):
                wonly_gemm(*operands(M, N, K, _bits(impl), GROUP, OWQ_COLUMNS if impl.endswith("owq") else 0))
    # tests/test_kernels_lowbit.py
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        for bits in (2, 3, 4):
            with site(f"lowbit test_kernel_matches_reference {dtype} W{bits}"):
                wonly_gemm(*operands(5, 40, 96, bits, 32, 3, dtype))
    for bits, k, g, n_out, M, out_dtype in [(3, 48, 24, 0, 3, None), (4, 64, None, 0, 17, torch.float32),
                                            (2, 160, 32, 20, 1, None), (3, 37, 37, 1, 2, None)]:
        with site(f"lowbit test_kernel_shapes W{bits} {M}x19x{k} g{g} out{n_out}"):
            wonly_gemm(*operands(M, 19, k, bits, g, n_out, torch.float16), out_dtype=out_dtype)
    for dtype in (torch.float32, torch.bfloat16):
        with site(f"lowbit test_kernel_large_batch_with_outliers {dtype}"):
            wonly_gemm(*operands(20, 24, 64, 3, 32, 5, dtype))
    with site("lowbit test_kernel_reads_strided_activations"):
        x, *rest = operands(6, 24, 64, 4, 32, 0, torch.float32)
        wonly_gemm(x.T.contiguous().T, *rest)
    with site("lowbit test_w8a8_is_exact_against_its_reference"):
        xq, xs = quantize_per_row_int8(torch.zeros(7, 72))
        wq, ws = quantize_per_row_int8(torch.zeros(40, 72))
        w8a8_gemm(xq, wq.T, xs, ws)
    # tests/test_kernels_wonly_gemv.py
    for M, dtype in ((1, torch.bfloat16), (3, torch.float16), (16, torch.float32)):
        for bits in (2, 3, 4):
            for g, k, n_out in ((32, 128, 3), (24, 72, 0), (None, 40, 1)):
                with site(f"gemv test_gemv_matches_reference {M}x37x{k} W{bits} g{g}"):
                    wonly_gemm(*operands(M, 37, k, bits, g, n_out, dtype))
    for bits in (2, 3, 4):
        for M in (1, 6):
            for g in (32, 24):
                for split in (1, 3):
                    with site(f"gemv test_gemv_is_exact_with_and_without_split_k {M}x21x96 W{bits} g{g}"):
                        wonly_gemm(*operands(M, 21, 96, bits, g, 5, torch.float32), out_dtype=torch.float32,
                                   split_k=split)
    with site("gemv test_gemv_strided_activations_and_fp32_output"):
        x, *rest = operands(4, 24, 64, 4, 32, 2, torch.float32)
        wonly_gemm(x.T.contiguous().T, *rest)
        wonly_gemm(*operands(1, 24, 64, 4, 32, 0, torch.bfloat16), out_dtype=torch.float32)
