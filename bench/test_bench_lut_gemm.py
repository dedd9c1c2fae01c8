"""LUT-based binary-coded GEMM on the GPU (kernels/lut_gemm.py) against bf16 torch.matmul.

Compared on one GPU in one run, y = x W^T for a 28672 x 8192 layer (N = 28672 outputs, K = 8192
inputs: a Llama-3-70B-sized MLP up-projection) at batch M = 1 (decode, GEMV) and M = 16:

* ``lut_fp16``   kernels.lut_gemm.lut_gemm, fp16 activations and scales, fp32 tables/accumulation
* ``lut_int8``   the exact integer path: int8 activations, int32 scales, int32 tables/accumulation
* ``torch_bf16`` torch.matmul(x_bf16, W_bf16^T): the same layer unquantised (cuBLAS)

Weights: q = 3 binary planes, one scale per 128 input columns (random bits and scales: the time
does not depend on the values; a slice of the output is checked against lut_gemm_reference
before timing). At decode batch sizes every implementation is bound by streaming its weights:
3/8 byte per weight plus scales for the LUT kernel, 2 bytes for bf16, so the ideal speed-up is
about 2 / (3/8 + 2*3/128) = 4.7x. Reported per implementation in ``benchmark.extra_info``: time,
dense-equivalent TFLOP/s (2 M N K), ``ratio_vs_<peer>`` (peer time / this time), the bytes it
must move and ``pct_of_hbm_bandwidth`` (= ``pct_of_roofline``: at these batch sizes the roofline
is the bandwidth line) against the GPU's datasheet HBM bandwidth.

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run). Runs only under ``pytest --benchmark``
and only with a CUDA GPU.
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
from kernels.lut_gemm import count_lut_ops, lut_gemm, lut_gemm_reference

pytestmark = GPU_ONLY

N, K = 28672, 8192
Q, GROUP = 3, 128
BATCHES = [1, 16]
IMPLS = ["lut_fp16", "lut_int8", "torch_bf16"]
CHECK_ROWS = 256  # output rows checked against the reference before timing


class Workload:
    """The operands of one batch size, made once and shared by every implementation."""

    def __init__(self, M):
        self.M = M
        g = torch.Generator(device="cuda").manual_seed(M)
        dev = "cuda"
        self.packed = torch.randint(0, 256, (Q, N, K // 8), dtype=torch.uint8, device=dev, generator=g)
        self.scales_f16 = (torch.rand((Q, N, K // GROUP), device=dev, generator=g) * 0.02).to(torch.float16)
        self.scales_i32 = torch.randint(1, 9, (Q, N, K // GROUP), dtype=torch.int32, device=dev, generator=g)
        self.x_f16 = torch.randn((M, K), device=dev, generator=g).to(torch.float16)
        self.x_i8 = torch.randint(-128, 128, (M, K), dtype=torch.int8, device=dev, generator=g)
        self.w_bf16 = torch.randn((N, K), device=dev, generator=g).to(torch.bfloat16)
        self.x_bf16 = self.x_f16.to(torch.bfloat16)
        self.y_bf16 = torch.empty((M, N), dtype=torch.bfloat16, device=dev)

    def check(self):
        """A slice of each LUT output against the reference: exact (int8), fp32 rounding (fp16)."""
        p, s16, s32 = self.packed[:, :CHECK_ROWS], self.scales_f16[:, :CHECK_ROWS], self.scales_i32[:, :CHECK_ROWS]
        y = lut_gemm(self.x_i8, self.packed, self.scales_i32, GROUP)[:, :CHECK_ROWS]
        assert torch.equal(y, lut_gemm_reference(self.x_i8, p, s32, GROUP)), "lut_int8 differs from the reference"
        y = lut_gemm(self.x_f16, self.packed, self.scales_f16, GROUP)[:, :CHECK_ROWS].double()
        want = lut_gemm_reference(self.x_f16, p, s16, GROUP).double()
        scale = self.x_f16.double().abs() @ (s16.double().abs().sum(0).repeat_interleave(GROUP, -1)).T
        assert bool(((y - want).abs() <= (K + 16) * 2.0**-24 * scale).all()), "lut_fp16 outside fp32 rounding"

    def fn(self, impl):
        if impl == "lut_fp16":
            return lambda: lut_gemm(self.x_f16, self.packed, self.scales_f16, GROUP)
        if impl == "lut_int8":
            return lambda: lut_gemm(self.x_i8, self.packed, self.scales_i32, GROUP, check_range=False)
        if impl == "torch_bf16":
            return lambda: torch.matmul(self.x_bf16, self.w_bf16.T, out=self.y_bf16)
        raise ValueError(impl)

    def bytes_moved(self, impl) -> int:
        if impl == "torch_bf16":
            return 2 * (self.M * K + N * K + self.M * N)
        act, scale = (2, 2) if impl == "lut_fp16" else (1, 4)
        return count_lut_ops(self.M, N, K, Q, GROUP, act_bytes=act, scale_bytes=scale).bytes_moved


_CACHE = WorkloadCache(lambda M: Workload(M))


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        f"LUT binary-coded GEMM benchmark: kernels.lut_gemm (q={Q}, group {GROUP}) vs bf16 torch.matmul, "
        f"layer N={N} x K={K}, batches {BATCHES}",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"HBM bandwidth ({peak.model}): {peak.hbm_tb_per_s:g} TB/s; source: {peak.source}" if peak else
        f"HBM bandwidth: unknown for {name!r}; % of bandwidth left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("M", BATCHES, ids=lambda m: f"batch{m}")
def test_bench_lut_gemm(benchmark, machine, impl, M):
    info, peak = machine
    work = _CACHE.workload(M)
    fn = work.fn(impl)
    benchmark.group = f"lut gemm {M}x{N}x{K}"
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=_CACHE.timing_key(impl, M))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, M)] = time_s
    bytes_moved = work.bytes_moved(impl)
    extra = {
        "impl": impl,
        "shape": f"{M}x{N}x{K}",
        "q": Q,
        "group_size": GROUP,
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": 2 * M * N * K / time_s / 1e12,  # dense-equivalent
        "bytes_moved": bytes_moved,
        "achieved_gb_per_s": bytes_moved / time_s / 1e9,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:
        if peer != impl:
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, M) / time_s
    if peak is not None:
        pct = 100 * bytes_moved / time_s / (peak.hbm_tb_per_s * 1e12)
        extra["pct_of_hbm_bandwidth"] = pct
        extra["pct_of_roofline"] = pct
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark (fp16 and int8 paths at each batch) and of the GPU
    tests of tests/test_kernels_bcq_lut.py and tests/test_kernels_lut_splitk.py
    (tests/test_kernels_bcq_objectives.py has none), for bench/sm90.py (CPU stand-ins of the
    packed shapes; the launches only compile, the K-split reduction included)."""
    from bench.sm90 import site

    packed = torch.zeros((Q, N, K // 8), dtype=torch.uint8)
    s_f16 = torch.zeros((Q, N, K // GROUP), dtype=torch.float16)
    s_i32 = torch.zeros((Q, N, K // GROUP), dtype=torch.int32)
    for M in BATCHES:
        with site(f"bench lut_fp16 {M}x{N}x{K}"):
            lut_gemm(torch.zeros((M, K), dtype=torch.float16), packed, s_f16, GROUP)
        with site(f"bench lut_int8 {M}x{N}x{K}"):
            lut_gemm(torch.zeros((M, K), dtype=torch.int8), packed, s_i32, GROUP, check_range=False)

    def on_gpu(t):  # the strides `t.to("cuda")` gives (a non-dense view is made dense)
        return torch.zeros_like(t)

    # tests/test_kernels_bcq_lut.py, the cuda parameter of each DEVICES test
    for M, N_, K_, q, g in ((1, 1, 8, 1, 8), (1, 40, 64, 3, 32), (5, 17, 48, 2, 16), (3, 8, 96, 4, 24),
                            (18, 9, 16, 3, 8)):
        with site(f"test_kernel_integer_path_is_exact {M}x{N_}x{K_} q={q} g={g}"):
            lut_gemm(torch.zeros((M, K_), dtype=torch.int8), torch.zeros((q, N_, K_ // 8), dtype=torch.uint8),
                     torch.zeros((q, N_, K_ // g), dtype=torch.int32), g)
    with site("test_kernel_integer_extremes_and_strided_views"):
        lut_gemm(torch.zeros((2, 120), dtype=torch.int8), torch.zeros((4, 3, 15), dtype=torch.uint8),
                 torch.zeros((4, 3, 3), dtype=torch.int32), 40)
        x_t = torch.zeros((32, 4), dtype=torch.int8).T
        p_big = torch.zeros((3, 12, 4), dtype=torch.uint8)[:, ::2]
        s_t = torch.zeros((3, 2, 6), dtype=torch.int32).transpose(1, 2)
        lut_gemm(on_gpu(x_t), on_gpu(p_big), on_gpu(s_t), 16)
    for act in (torch.float16, torch.float32):
        for M, N_, K_, q, g in ((1, 24, 64, 3, 32), (6, 10, 128, 2, 64)):
            with site(f"test_kernel_float_path_within_fp32_rounding {act} {M}x{N_}x{K_} q={q}"):
                lut_gemm(torch.zeros((M, K_), dtype=act), torch.zeros((q, N_, K_ // 8), dtype=torch.uint8),
                         torch.zeros((q, N_, K_ // g), dtype=torch.float32), g)
    # tests/test_kernels_lut_splitk.py: the cuda parameter of the DEVICES test, and the gpu test
    for M, N_, K_, q, g in ((1, 7, 256, 3, 128), (2, 33, 192, 4, 64), (3, 5, 96, 1, 32), (17, 3, 64, 2, 16),
                            (1, 1, 40, 3, 40)):
        for split_k in (1, 2, None):
            with site(f"test_integer_path_is_exact_for_every_split {M}x{N_}x{K_} q={q} g={g} split_k={split_k}"):
                lut_gemm(torch.zeros((M, K_), dtype=torch.int8), torch.zeros((q, N_, K_ // 8), dtype=torch.uint8),
                         torch.zeros((q, N_, K_ // g), dtype=torch.int32), g, split_k=split_k)
    for dtype, s_dtype in ((torch.float16, torch.float16), (torch.int8, torch.int32)):
        for M, q in ((1, 3), (1, 4), (4, 2), (16, 3)):
            for split_k in (1, None):
                with site(f"test_gpu_decode_shapes_split_on_and_off {dtype} M={M} q={q} split_k={split_k}"):
                    lut_gemm(torch.zeros((M, 4096), dtype=dtype), torch.zeros((q, 3000, 512), dtype=torch.uint8),
                             torch.zeros((q, 3000, 32), dtype=s_dtype), 128, split_k=split_k)
