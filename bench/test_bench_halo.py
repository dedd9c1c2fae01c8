"""FP8 training linear on the GPU: forward + backward of kernels.halo.HaloLinear against bf16, the shape
below which FP8 stops paying off, and a short FP8 / HALO training run of the tiny LM.

1. ``test_bench_halo_linear``: one training step of a linear layer (y = x W^T, then dx and dW from a
   given output gradient; 3 GEMMs of 2 M N K each), M tokens x N out x K in = 4096 x 8192 x 16384
   (the issue's target: FP8 tensorwise at least 1.3x bf16), for

   * ``bf16``            ``torch.nn.functional.linear`` in bf16 with autograd (the peer);
   * ``fp8_tensorwise``  e4m3 x / W, e5m2 gradient, one scale per tensor, casts included;
   * ``fp8_rowwise``     scales per row of each GEMM operand (re-cast per backward GEMM);
   * ``halo1``, ``halo2`` tensorwise with HALO level 1 / 2 (Hadamard block 128, dense bf16 matmuls).

   Casts (amax, scale, saturating cast, transposes) are inside the timed call; ``check_scales`` is off
   (no host sync). ``tops`` counts 6 M N K per call; ``pct_of_peak``: against the dense bf16 rate for
   bf16 and the dense FP8 rate (= the INT8 rate on Hopper) for the FP8 recipes.
2. ``test_bench_halo_crossover``: bf16 vs fp8_tensorwise over growing cubes M = N = K, plus the
   target shape; ``crossover_shape`` is the smallest shape from which on FP8 is faster.
3. ``test_bench_halo_training``: the tiny LM (kernels/models/tiny_lm.py, wider than the CPU
   report's) trained for a few hundred steps on CUDA per recipe; final train / validation losses
   and time per step.

Correctness before timing: each FP8 recipe's y, dx, dW on the target shape against the bf16 peer,
relative Frobenius error below 0.08 / 0.12 / 0.12 (e4m3 / e5m2 rounding, tests/test_kernels_halo.py).
Timing as in the other benchmarks (bench/gpu_timing.py). Runs only under ``pytest --benchmark`` with
a CUDA GPU.
"""

import time

import pytest
import torch
import torch.nn.functional as F

from bench.gpu_timing import (
    GPU_ONLY,
    WorkloadCache,
    benchmark_per_call_s,
    gpu_peak,
    machine_info,
    median_time_per_call_s,
    print_past_capture,
)
from kernels.halo import HaloConfig, HaloLinearFunction, linear_flops

pytestmark = GPU_ONLY

TARGET = (4096, 8192, 16384)  # M tokens, N out-features, K in-features
CROSSOVER_SHAPES = [(512,) * 3, (1024,) * 3, (2048,) * 3, (3072,) * 3, (4096,) * 3, TARGET]
BLOCK = 128
CONFIGS = {
    "fp8_tensorwise": HaloConfig("fp8_tensorwise", 0, BLOCK, check_scales=False),
    "fp8_rowwise": HaloConfig("fp8_rowwise", 0, BLOCK, check_scales=False),
    "halo1": HaloConfig("fp8_tensorwise", 1, BLOCK, check_scales=False),
    "halo2": HaloConfig("fp8_tensorwise", 2, BLOCK, check_scales=False),
}
IMPLS = ["bf16", *CONFIGS]


class Workload:
    def __init__(self, shape):
        M, N, K = self.shape = shape
        g = torch.Generator(device="cuda").manual_seed(0)
        self.x = torch.randn((M, K), device="cuda", generator=g).to(torch.bfloat16).requires_grad_()
        self.w = (torch.randn((N, K), device="cuda", generator=g) / K**0.5).to(torch.bfloat16).requires_grad_()
        self.g = torch.randn((M, N), device="cuda", generator=g).to(torch.bfloat16)

    def step(self, impl):
        self.x.grad = self.w.grad = None
        if impl == "bf16":
            y = F.linear(self.x, self.w)
        else:
            y = HaloLinearFunction.apply(self.x, self.w, None, CONFIGS[impl])
        y.backward(self.g)
        return y

    def check(self):
        def run(impl):
            y = self.step(impl)
            return y.detach().float(), self.x.grad.float(), self.w.grad.float()

        def rel(a, b):
            return float((a - b).norm() / b.norm())

        ref = run("bf16")
        for impl in CONFIGS:
            got = run(impl)
            for what, a, b, tol in zip(("y", "dx", "dW"), got, ref, (0.08, 0.12, 0.12)):
                err = rel(a, b)
                assert err < tol, f"{impl} {what} relative error {err:.4f} >= {tol} at {self.shape}"
        self.x.grad = self.w.grad = None

    def fn(self, impl):
        return lambda: self.step(impl)


_CACHE = WorkloadCache(Workload)


@pytest.fixture(scope="module")
def machine(request):
    info = machine_info()
    peak = gpu_peak(info["gpu"])
    t0 = time.perf_counter()
    Workload((256, 256, 256)).check()  # compiles the cast graphs (torch.compile) outside any timing
    warm = time.perf_counter() - t0
    print_past_capture(request, [
        f"FP8 training linear benchmark: kernels.halo fwd+bwd vs bf16 F.linear at {TARGET} (M x N x K), "
        f"HALO block {BLOCK}; cast graphs compiled in {warm:.1f} s",
        "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        f"peaks ({peak.model}): bf16 {peak.bf16_dense_tflops:g} / fp8 {peak.int8_dense_tops:g} dense TFLOP/s; "
        f"source: {peak.source}" if peak else f"peak: unknown for {info['gpu']!r}; % of peak left empty",
    ])
    return info, peak


def _pct(peak, impl, tops):
    if peak is None:
        return None
    return 100 * tops / (peak.bf16_dense_tflops if impl == "bf16" else peak.int8_dense_tops)


@pytest.mark.parametrize("impl", IMPLS)
def test_bench_halo_linear(benchmark, machine, impl):
    info, peak = machine
    work = _CACHE.workload(TARGET)
    benchmark.group = "fp8 training linear fwd+bwd {}x{}x{}".format(*TARGET)
    time_s, reps = benchmark_per_call_s(benchmark, work.fn(impl), key=_CACHE.timing_key(impl, TARGET))
    if time_s is None:
        return
    _CACHE.times[(impl, TARGET)] = time_s
    tops = linear_flops(*TARGET) / time_s / 1e12
    extra = {"impl": impl, "shape": "{}x{}x{}".format(*TARGET), "reps_per_round": reps, "time_s": time_s,
             "tops": tops, "pct_of_peak": _pct(peak, impl, tops), "gpu": info["gpu"],
             "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")}}
    for peer in IMPLS:
        if peer != impl:
            extra[f"ratio_vs_{peer}"] = _CACHE.time_s(peer, TARGET) / time_s
    benchmark.extra_info.update(extra)


def test_bench_halo_crossover(benchmark, machine):
    info, peak = machine
    rows = []
    for shape in CROSSOVER_SHAPES:
        work = Workload(shape)
        times = {}
        for impl in ("bf16", "fp8_tensorwise"):
            fn = work.fn(impl)
            times[impl] = median_time_per_call_s(fn, key=_CACHE.timing_key(impl, shape))
        rows.append((shape, times["bf16"], times["fp8_tensorwise"]))
        del work
        torch.cuda.empty_cache()
    # crossover: the smallest shape from which on (in this list) FP8 is at least as fast as bf16
    crossover = None
    for i, (shape, _, _) in enumerate(rows):
        if all(b >= f for _, b, f in rows[i:]):
            crossover = "x".join(map(str, shape))
            break
    shape, t_bf16, t_fp8 = rows[-1]
    benchmark.group = "fp8 training linear crossover"
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    tops = linear_flops(*shape) / t_fp8 / 1e12
    benchmark.extra_info.update({
        "impl": "fp8_tensorwise", "shape": "x".join(map(str, shape)), "time_s": t_fp8, "tops": tops,
        "ratio_vs_bf16": t_bf16 / t_fp8, "pct_of_peak": _pct(peak, "fp8", tops),
        "crossover_shape": crossover,
        "ratios_by_shape": {"x".join(map(str, s)): b / f for s, b, f in rows},
        "times_by_shape": {"x".join(map(str, s)): {"bf16": b, "fp8_tensorwise": f} for s, b, f in rows},
        "gpu": info["gpu"],
    })


@pytest.mark.parametrize("recipe,level", [("bf16", 0), ("fp8_tensorwise", 0), ("fp8_rowwise", 0),
                                          ("fp8_tensorwise", 1), ("fp8_tensorwise", 2)])
def test_bench_halo_training(benchmark, machine, recipe, level):
    from kernels.models.tiny_lm import LMConfig, train

    info, _ = machine
    steps = 200
    cfg = LMConfig(d_model=256, n_layers=4, n_heads=8, seq_len=128, batch_size=32, lr=1e-3, warmup_steps=20,
                   eval_every=50, eval_batches=4, hadamard_block=BLOCK, device="cuda", threads=0)
    benchmark.group = "fp8 training tiny LM on CUDA"
    result = benchmark.pedantic(lambda: train(cfg, steps=steps, recipe=recipe, halo_level=level, seed=0),
                                rounds=1, iterations=1)
    assert result.final_val_loss < result.train_losses[0] - 1.0, f"{result.name} did not learn"
    benchmark.extra_info.update({
        "impl": result.name, "shape": f"d{cfg.d_model}xL{cfg.n_layers}xT{cfg.batch_size * cfg.seq_len}",
        "time_s": result.wall_s / steps, "steps": steps, "final_train_loss": result.final_train_loss,
        "final_val_loss": result.final_val_loss, "val_losses": result.val_losses, "gpu": info["gpu"],
    })


def sm90_launches() -> None:
    """Every Triton launch of this benchmark and of the GPU tests of tests/test_kernels_halo.py and
    tests/test_kernels_fp8_cast.py, for bench/sm90.py (CPU stand-ins; the launches only compile).

    The layer's launches are its fused FP8 casts (kernels/fp8_cast.py: an amax pass and a cast pass
    per tensor; the GEMMs are torch._scaled_mm, the rotations torch matmuls). They are reached by
    running the real HaloLinearFunction forward and backward with ``cast="triton"`` on CPU tensors:
    which casts run, with which flags and dtypes, is the layer's own decision. A cast kernel's
    compilation depends on its dtypes, flags and on which sizes and strides are divisible by 16, not
    on the sizes themselves, so a 256 x 256 x 256 stand-in (every size a multiple of 16 and of the
    HALO block 128, as in every benchmark shape: TARGET, CROSSOVER_SHAPES, the 256^3 warm-up, the
    tiny LM's d_model 256 / 4096 tokens, the tests' 64 x 48 x 64) compiles exactly what those shapes
    compile, without the CPU computing their GEMMs. bf16: the benchmark's tensors; fp32: the tiny
    LM's and the tests'. check_scales=False (the stand-ins hold no data; it changes no compilation).
    """
    from dataclasses import replace

    from bench.sm90 import site
    from kernels.fp8_cast import Amax, fp8_amax, fp8_cast, fp8_quantize
    from kernels.halo import quantize

    T = N = K = 256

    def step(cfg, dtype):
        x = torch.zeros((T, K), dtype=dtype, requires_grad=True)
        w = torch.zeros((N, K), dtype=dtype, requires_grad=True)
        y = HaloLinearFunction.apply(x, w, None, replace(cfg, cast="triton", check_scales=False))
        y.backward(torch.zeros((T, N), dtype=dtype))

    for name, cfg in CONFIGS.items():
        for dtype in (torch.bfloat16, torch.float32):
            with site(f"bench {name} {dtype} (stand-in for {'x'.join(map(str, TARGET))})"):
                step(cfg, dtype)
    # the tiny LM's recipes and the GPU layer tests (fp32; also e4m3 gradients, HALO level 1 rowwise)
    for recipe in ("fp8_tensorwise", "fp8_rowwise"):
        for level in (0, 1, 2):
            for grad_fmt in ("e5m2", "e4m3"):
                with site(f"test_cuda_layer_matches_the_cpu_layer / tiny LM {recipe} halo{level} {grad_fmt}"):
                    step(HaloConfig(recipe, level, BLOCK, grad_fmt=grad_fmt), torch.float32)
    # tests/test_kernels_halo.py::test_cuda_casts_equal_the_house_casts: quantize alone, 64 x 96 fp32
    for fmt in ("e4m3", "e5m2"):
        for gran, dim in (("tensorwise", 1), ("rowwise", 1), ("rowwise", 0)):
            with site(f"test_cuda_casts_equal_the_house_casts {fmt} {gran} dim={dim}"):
                quantize(torch.zeros(64, 96), fmt, gran, dim, check=False, cast="triton")
    # tests/test_kernels_fp8_cast.py::test_gpu_cast_rounding_equals_the_cpu_reference: (300, 37) and
    # (4096, 1000) fp32 (sizes not multiples of 16), the hardware conversion and the explicit rounding
    for fmt, fmt_max in (("e4m3", 448.0), ("e5m2", 57344.0)):
        for explicit in (False, True):
            with site(f"test_gpu_cast_rounding_equals_the_cpu_reference {fmt} explicit={explicit}"):
                fp8_cast(torch.zeros(300, 37), fmt, Amax(tensor=torch.tensor(fmt_max)), out=True, out_t=True,
                         check=False, _explicit=explicit)
                y = torch.zeros(4096, 1000)
                for gran in ("tensorwise", "rowwise"):
                    rw = gran == "rowwise"
                    amax = fp8_amax(y, tensor=not rw, rows=rw, cols=rw)
                    fp8_cast(y, fmt, amax, gran, out=True, out_t=True, check=False, _explicit=explicit)
    with site("kernels.fp8_cast.fp8_quantize rowwise, q only / qt only (fp32, bf16)"):
        for dtype in (torch.float32, torch.bfloat16):
            fp8_quantize(torch.zeros(T, K, dtype=dtype), "e4m3", "rowwise", out=True, out_t=False, check=False)
            fp8_quantize(torch.zeros(T, K, dtype=dtype), "e4m3", "rowwise", out=False, out_t=True, check=False)
