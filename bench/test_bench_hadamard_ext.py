"""Hadamard rotations beyond the power-of-two FWHT on the GPU, each against a plain copy of its input.

Cases (bf16 activations of 16384 tokens; one GPU, one run; every kernel checked against its torch
reference on a slice before it is timed):

* ``block128``      kernels.hadamard_ext.block_hadamard(x, 128) on 16384 x 4096: tl.dot by H_128
* ``h12x1024``      kernels.hadamard_ext.hadamard_transform(x) on 16384 x 12288 (= 12 * 1024):
                    butterflies along 1024, then the Paley H_12 mix as a tl.dot, one launch
* ``rotq_int8_row`` rotate_quantize(x, 128, "int8", "rowwise") on 16384 x 4096: one pass, int8 out
* ``rotq_e4m3_row`` rotate_quantize(x, 128, "e4m3", "rowwise"): one pass, fp8 cast in-kernel
* ``rotq_int8_tensor_full`` rotate_quantize(x, None, "int8", "tensorwise"): the full 4096 FWHT,
                    two passes (amax, then codes: the input is read twice)

Peer: ``x.clone()`` of the same input (one read + one write, no arithmetic), timed in the same
process. Recorded in ``extra_info``: ``shape``, ``time_s``, ``gb_per_s`` (the bytes the kernel must
move at least: its reads and writes, listed per case), ``ratio_vs_copy`` = copy time / kernel time
(the house convention, peer / this: above 1 the kernel is faster than a copy), ``time_over_copy`` =
its inverse and ``meets_target`` (the issue's target for a WHT: at most 1.2 x the copy's time), and
``pct_of_roofline`` = (bytes / HBM datasheet bandwidth) / time, in %. Timing:
bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run).
"""

from __future__ import annotations

import math

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
from kernels.hadamard import hadamard_matrix
from kernels.hadamard_ext import (
    block_hadamard,
    block_hadamard_reference,
    hadamard_transform,
    paley_hadamard,
    rotate_quantize,
    rotate_quantize_reference,
)

pytestmark = GPU_ONLY

DTYPE = torch.bfloat16
TOKENS = 16384
# case -> (hidden size, the call, bytes moved per element: reads + writes)
CASES = {
    "block128": (4096, lambda x: block_hadamard(x, 128), 2 + 2),
    "h12x1024": (12 * 1024, hadamard_transform, 2 + 2),
    "rotq_int8_row": (4096, lambda x: rotate_quantize(x, 128, "int8", "rowwise"), 2 + 1),
    "rotq_e4m3_row": (4096, lambda x: rotate_quantize(x, 128, "e4m3", "rowwise"), 2 + 1),
    "rotq_int8_tensor_full": (4096, lambda x: rotate_quantize(x, None, "int8", "tensorwise"), 2 + 2 + 1),
}
IMPLS = ["kernel", "copy"]


def _close_to_dense(y, x, h, levels):
    """y against x @ h / sqrt(b) per b = len(h) elements; h a matrix, or (H_m, H_p) for H_m (x) H_p;
    ``levels``: the depth of fp32 additions, as in tests/test_kernels_hadamard_ext.py."""
    if isinstance(h, tuple):
        hm, hp = (t.double().to(x.device) for t in h)
        b = hm.shape[0] * hp.shape[0]
        xr = x.double().reshape(-1, hm.shape[0], hp.shape[0])
        exact = torch.einsum("rap,pq,ac->rcq", xr, hp, hm).reshape(-1, b) / math.sqrt(b)
    else:
        b = h.shape[0]
        exact = (x.double().reshape(-1, b) @ h.double().to(x.device)) / math.sqrt(b)
    err = (y.double().reshape(-1, b) - exact).abs()
    # bf16 output rounding (2**-8 relative) plus fp32 summation, as in tests/test_kernels_hadamard_ext.py
    bound = 2.0**-8 * exact.abs() + (levels + 1) * 2.0**-24 * x.double().reshape(-1, b).abs().sum(-1, keepdim=True)
    assert bool((err <= bound + 1e-30).all()), "kernel disagrees with the dense transform"


class Workload:
    def __init__(self, case):
        n, self.call, self.bytes_per_elem = CASES[case]
        self.case = case
        g = torch.Generator(device="cuda").manual_seed(0)
        self.x = torch.randn((TOKENS, n), device="cuda", generator=g).to(DTYPE)
        self.x[:, 7] *= 30  # an outlier channel, as in real activations

    def check(self):
        xs = self.x[:64]
        if self.case == "block128":
            _close_to_dense(block_hadamard(xs, 128), xs, hadamard_matrix(128), 128)
            assert block_hadamard_reference(xs, 128).shape == xs.shape
        elif self.case == "h12x1024":
            _close_to_dense(hadamard_transform(xs), xs, (paley_hadamard(12), hadamard_matrix(1024)), 10 + 12)
        else:  # bit for bit against the torch reference
            block, fmt, gran = {"rotq_int8_row": (128, "int8", "rowwise"), "rotq_e4m3_row": (128, "e4m3", "rowwise"),
                                "rotq_int8_tensor_full": (None, "int8", "tensorwise")}[self.case]
            q, s = rotate_quantize(xs, block, fmt, gran)
            qr, sr = rotate_quantize_reference(xs, block, fmt, gran)
            assert torch.equal(s, sr) and torch.equal(q.view(torch.uint8), qr.view(torch.uint8))

    def fn(self, impl):
        x = self.x
        return (lambda: self.call(x)) if impl == "kernel" else (lambda: x.clone())


CACHE = WorkloadCache(Workload)


@pytest.fixture(scope="module")
def info(request):
    info = machine_info()
    print_past_capture(request, [(f"Hadamard-ext benchmark: block-diagonal, 12 x 2^k and fused rotate+quantise vs "
                                  f"x.clone(), {TOKENS} tokens, {DTYPE}"),
                                 "machine: " + ", ".join(f"{k} {v}" for k, v in info.items())])
    return info


@pytest.mark.parametrize(("case", "impl"), [(c, i) for c in CASES for i in IMPLS])  # one workload at a time
def test_bench_hadamard_ext(benchmark, info, case, impl):
    w = CACHE.workload(case)
    benchmark.group = f"hadamard_ext {case} {TOKENS}x{w.x.shape[1]} {DTYPE}"
    time_s, reps = benchmark_per_call_s(benchmark, w.fn(impl), key=CACHE.timing_key(impl, case))
    if time_s is None:  # --benchmark-disable
        return
    copy_s = CACHE.time_s("copy", case)
    bytes_moved = w.x.numel() * (w.bytes_per_elem if impl == "kernel" else 4)
    peak = gpu_peak(info["gpu"])
    extra = {
        "impl": impl, "case": case, "shape": f"{TOKENS}x{w.x.shape[1]}", "dtype": str(DTYPE),
        "reps_per_round": reps, "time_s": time_s, "gb_per_s": bytes_moved / time_s / 1e9,
        "ratio_vs_copy": copy_s / time_s, "time_over_copy": time_s / copy_s,
        "meets_target": time_s / copy_s <= 1.2, "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    }
    if peak is not None:
        extra["pct_of_roofline"] = 100 * (bytes_moved / (peak.hbm_tb_per_s * 1e12)) / time_s
    benchmark.extra_info.update(extra)


def sm90_launches() -> None:
    """Every launch of this benchmark (its cases and their correctness checks on 64 rows) and of
    tests/test_kernels_hadamard_ext.py's GPU tests, for bench/sm90.py (CPU stand-ins; the launches
    only compile, so the host-side amax checks of rotate_quantize are skipped there)."""
    from bench.sm90 import site

    for case, (n, call, _) in CASES.items():
        with site(f"bench {case} {TOKENS}x{n} {DTYPE}"):
            call(torch.empty((TOKENS, n), dtype=DTYPE))
            call(torch.empty((64, n), dtype=DTYPE))  # Workload.check's rows
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        for n in (12, 384, 12 * 1024, 20 * 512, 28 * 2048):
            with site(f"test_compiled_transform_on_gpu {dtype} n={n}"):
                hadamard_transform(torch.empty((64, n), dtype=dtype))
        for block in (16, 128, 256):
            with site(f"test_compiled_block_hadamard_on_gpu {dtype} block={block}"):
                block_hadamard(torch.empty((256, 1024), dtype=dtype), block)
    for block in (None, 128):
        for fmt in ("int8", "e4m3"):
            for granularity in ("tensorwise", "rowwise"):
                with site(f"test_compiled_rotate_quantize_is_bit_exact_on_gpu {block} {fmt} {granularity}"):
                    rotate_quantize(torch.empty((300, 4096), dtype=torch.bfloat16), block, fmt, granularity)
