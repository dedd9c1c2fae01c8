"""FP8 GEMM on the GPU: the Triton kernel (kernels/fp8_gemm.py) against torch._scaled_mm and bf16.

Shapes, M x N x K: 8192 x 8192 x 8192 (compute-bound square) and 4096 x 14336 x 4096 (4096 tokens
through a Llama-3-8B MLP up-projection: hidden K = 4096, intermediate N = 14336). Operands are
random normals quantised to e4m3 by ``kernels.fp8_gemm.quantize_operands`` at each granularity,
B column-major (``w.t()`` of a row-major weight, torch._scaled_mm's required layout, given to
every implementation), bf16 output, no bias. Implementations, per granularity:

* ``triton``                kernels.fp8_gemm.fp8_gemm (pointer loads, autotuned, promoted to FP32
                            every 128 products; blockwise applies scales per 128-deep K block)
* ``triton_tma``            the same with ``tma=True``: tiles loaded through TMA descriptors
* ``triton_persistent``     ``tma=True, persistent=True``: one program per SM looping over the tiles
* ``scaled_mm``             torch._scaled_mm with the same scales (blockwise only where the
                            installed torch / cuBLAS takes 1x128 / 128x128 scales; else skipped,
                            with the reason)
* ``scaled_mm_tensorwise``  (blockwise only) torch._scaled_mm on the same shape with tensorwise
                            scales: the fastest FP8 GEMM cuBLAS has, the peer for the cost of
                            block scaling

Both sides accumulate precisely (torch._scaled_mm's default use_fast_accum=False; Triton promotes
every 128 products); ``fast_accum=True`` exists on both and is not timed here, to keep the run short.
* ``torch_bf16``            torch.matmul on bf16 copies: the same GEMM without quantisation

Before timing, the Triton and scaled_mm outputs are checked against the dequantised product
computed in float32 (relative Frobenius error < 5e-3: bf16 output rounding is 2**-9).
Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run); ``check_values=False`` keeps host read-backs out of the loop.
Recorded per benchmark: shape, time_s, tops (TFLOP/s, 2 M N K), ratio_vs_<peer> (peer time /
this time: above 1 this one is faster), pct_of_peak against the datasheet dense FP8 rate (the
same as INT8 on Hopper: GpuPeak.int8_dense_tops) or BF16 rate for torch_bf16.
Runs only under ``pytest --benchmark`` and only with a CUDA GPU.
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
from kernels.fp8_gemm import (
    fp8_gemm,
    quantize_operands,
    scaled_mm,
    scaled_mm_scale_layout,
)

pytestmark = GPU_ONLY

SHAPES = [(8192, 8192, 8192), (4096, 14336, 4096)]
GRANULARITIES = ["tensorwise", "rowwise", "blockwise"]
IMPLS = ["triton", "triton_tma", "triton_persistent", "scaled_mm", "scaled_mm_tensorwise", "torch_bf16"]
FP8_IMPLS = {"triton", "triton_tma", "triton_persistent", "scaled_mm", "scaled_mm_tensorwise"}


class Workload:
    """One shape at one granularity: quantised operands shared by every implementation."""

    def __init__(self, key):
        (self.M, self.N, self.K), self.gran = key
        M, N, K = self.M, self.N, self.K
        g = torch.Generator(device="cuda").manual_seed(M + N + K)
        a = torch.randn((M, K), device="cuda", generator=g)
        w = torch.randn((N, K), device="cuda", generator=g)  # a row-major weight; b = w.t() is column-major
        self.qa, qb, self.sa, self.sb = quantize_operands(a, w.t(), self.gran)
        self.qb = qb.t().contiguous().t()
        self.a_bf16, self.b_bf16 = a.to(torch.bfloat16), w.t().to(torch.bfloat16)
        self.c_bf16 = torch.empty((M, N), dtype=torch.bfloat16, device="cuda")
        qa_t, qb_t, self.sa_t, self.sb_t = quantize_operands(a, w.t(), "tensorwise")
        self.qa_t, self.qb_t = qa_t, qb_t.t().contiguous().t()
        del a, w
        self.scaled_mm_error = None
        try:
            scaled_mm(self.qa, self.qb, self.sa, self.sb, backend="scaled_mm", granularity=self.gran)
        except (RuntimeError, ValueError) as e:
            self.scaled_mm_error = str(e)

    def _dequantised(self, qa, qb, sa, sb, gran):
        if gran == "blockwise":
            sa = sa.repeat_interleave(128, 1)[:, : self.K]
            sb = sb.repeat_interleave(128, 0).repeat_interleave(128, 1)[: self.K, : self.N]
        return (qa.float() * sa) @ (qb.float() * sb)

    def check(self):
        ref = self._dequantised(self.qa, self.qb, self.sa, self.sb, self.gran)
        outs = {"triton": fp8_gemm(self.qa, self.qb, self.sa, self.sb, granularity=self.gran)}
        outs["triton_tma"] = fp8_gemm(self.qa, self.qb, self.sa, self.sb, granularity=self.gran, tma=True)
        outs["triton_persistent"] = fp8_gemm(self.qa, self.qb, self.sa, self.sb, granularity=self.gran, tma=True,
                                             persistent=True)
        if self.scaled_mm_error is None:
            outs["scaled_mm"] = scaled_mm(self.qa, self.qb, self.sa, self.sb, backend="scaled_mm",
                                          granularity=self.gran)
            outs["scaled_mm (timed call)"] = self.fn("scaled_mm")()
        for name, out in outs.items():
            rel = ((out.float() - ref).norm() / ref.norm()).item()
            assert rel < 5e-3, f"{name} {self.gran} {self.M}x{self.N}x{self.K}: relative error {rel:.2e}"
        del ref

    def fn(self, impl):
        """The call to time, or None where this implementation does not apply."""
        qa, qb, sa, sb, gran = self.qa, self.qb, self.sa, self.sb, self.gran
        if impl == "triton":
            return lambda: fp8_gemm(qa, qb, sa, sb, granularity=gran, check_values=False)
        if impl == "scaled_mm":
            if self.scaled_mm_error is not None:
                return None
            # torch._scaled_mm itself (the dispatcher's checks ran in __init__), scales laid out once
            sa_l, sb_l = scaled_mm_scale_layout(sa, sb, gran)
            return lambda: torch._scaled_mm(qa, qb, sa_l, sb_l, out_dtype=torch.bfloat16)
        if impl == "scaled_mm_tensorwise":
            if gran != "blockwise":
                return None
            qa_t, qb_t, sa_t, sb_t = self.qa_t, self.qb_t, self.sa_t, self.sb_t
            return lambda: torch._scaled_mm(qa_t, qb_t, sa_t, sb_t, out_dtype=torch.bfloat16)
        if impl == "triton_tma":
            return lambda: fp8_gemm(qa, qb, sa, sb, granularity=gran, check_values=False, tma=True)
        if impl == "triton_persistent":
            return lambda: fp8_gemm(qa, qb, sa, sb, granularity=gran, check_values=False, tma=True, persistent=True)
        if impl == "torch_bf16":
            return lambda: torch.matmul(self.a_bf16, self.b_bf16, out=self.c_bf16)
        raise ValueError(impl)


_CACHE = WorkloadCache(Workload)


def _peer_time_s(impl, key):
    if (impl, key) not in _CACHE.times and _CACHE.workload(key).fn(impl) is None:
        return None
    return _CACHE.time_s(impl, key)


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    name = info["gpu"]
    peak = gpu_peak(name)
    lines = [
        "FP8 GEMM benchmark: kernels.fp8_gemm (Triton) vs torch._scaled_mm and bf16 torch.matmul, e4m3, "
        "b column-major, bf16 out; shapes M x N x K " + ", ".join("x".join(map(str, s)) for s in SHAPES),
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        (f"peak ({peak.model}): FP8 (= INT8) {peak.int8_dense_tops:g} TFLOPS, BF16 {peak.bf16_dense_tflops:g} "
         f"TFLOPS dense; source: {peak.source}") if peak else f"peak: unknown for {name!r}; % of peak left empty",
    ]
    print_past_capture(request, lines)
    return info, peak


# impl varies fastest: the implementations of one workload run together on the same operands.
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("gran", GRANULARITIES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bench_fp8_gemm(benchmark, machine, impl, gran, shape):
    info, peak = machine
    key = (shape, gran)
    work = _CACHE.workload(key)
    fn = work.fn(impl)
    if fn is None:
        reason = work.scaled_mm_error if impl == "scaled_mm" else "the tensorwise peer is timed for blockwise only"
        pytest.skip(f"{impl} {gran}: {reason}")
    benchmark.group = f"fp8 gemm {gran} " + "x".join(map(str, shape))
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=_CACHE.timing_key(impl, key))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    _CACHE.times[(impl, key)] = time_s
    M, N, K = shape
    tops = 2 * M * N * K / time_s / 1e12
    extra = {
        "impl": impl,
        "granularity": gran,
        "shape": "x".join(map(str, shape)),
        "reps_per_round": reps,
        "time_s": time_s,
        "tops": tops,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    for peer in IMPLS:
        if peer != impl:
            peer_s = _peer_time_s(peer, key)
            if peer_s is not None:
                extra[f"ratio_vs_{peer}"] = peer_s / time_s
    if peak is not None:
        fp8 = impl in FP8_IMPLS
        extra["peak_tops"] = peak.int8_dense_tops if fp8 else peak.bf16_dense_tflops
        extra["peak_format"] = "FP8 dense" if fp8 else "BF16 dense"
        extra["pct_of_peak"] = 100 * tops / extra["peak_tops"]
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every Triton launch of this benchmark and of tests/test_kernels_fp8_gemm.py's GPU tests, for
    bench/sm90.py (CPU stand-ins of the right shapes, dtypes and layouts; the launches only compile).

    Each granularity at each benchmark shape through every kernel (pointer, TMA, persistent TMA) and accumulation
    mode; the autotuners compile every configuration their pruning keeps. a row-major and b
    column-major (``w.t()``) as in the benchmark; ``check_values=False`` (the stand-ins hold no data).
    """
    from bench.sm90 import site
    from kernels.fp8_gemm import _scale_shapes

    e4 = torch.float8_e4m3fn

    def launch(M, N, K, gran, *, out_dtype=torch.bfloat16, bias=None, **kw):
        a = torch.empty((M, K), dtype=e4)
        b = torch.empty((N, K), dtype=e4).t()  # column-major, as w.t()
        sa_shape, sb_shape = _scale_shapes(gran, M, N, K)
        sa, sb = torch.ones(sa_shape), torch.ones(sb_shape)
        fp8_gemm(a, b, sa, sb, granularity=gran, out_dtype=out_dtype, bias=bias, check_values=False, **kw)

    variants = [{}, {"tma": True}, {"tma": True, "persistent": True}]
    for M, N, K in SHAPES:
        for gran in GRANULARITIES:
            for kw in variants:
                with site(f"bench {gran} {M}x{N}x{K} {kw}"):
                    launch(M, N, K, gran, **kw)
        for gran in ("tensorwise", "rowwise"):  # fast accumulation (torch._scaled_mm's use_fast_accum)
            for kw in variants:
                with site(f"bench {gran} fast {M}x{N}x{K} {kw}"):
                    launch(M, N, K, gran, fast_accum=True, **kw)
    # tests/test_kernels_fp8_gemm.py, GPU only: the small shape (one fixed tile), the autotuned large
    # one, and the exact blockwise case (fp32 out, fp32 bias)
    for (M, N, K), cases in (((128, 256, 512), [("tensorwise", False), ("rowwise", False), ("blockwise", False),
                                                 ("tensorwise", True)]),
                             ((1024, 2048, 4096), [("tensorwise", False), ("blockwise", False)])):
        for gran, fast in cases:
            for kw in variants:
                with site(f"test_gpu_triton_matches_torch_scaled_mm {gran} fast={fast} {M}x{N}x{K} {kw}"):
                    launch(M, N, K, gran, fast_accum=fast, **kw)
    for kw in variants:
        with site(f"test_gpu_exact_integer_case_large {kw}"):
            launch(512, 768, 1024, "blockwise", out_dtype=torch.float32, bias=torch.zeros(768), **kw)
