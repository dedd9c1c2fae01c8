"""Hadamard rotation on the GPU: the Triton FWHT against a plain copy of the same tensor.

Compared on one GPU in one run, on a 16384 x 4096 bf16 tensor (16384 tokens of a 4096-wide
hidden state, QuaRot's online rotation of a Llama-2-7B-sized activation):

* ``triton_fwht``  kernels.hadamard.fwht(x) (normalised, fp32 butterflies in registers, one pass)
* ``clone``        x.clone(): the same bytes read and written with no arithmetic, the floor any
                   memory-bound elementwise kernel is measured against

The FWHT does n log2 n / 2 butterflies per row but reads and writes each element once, like the
copy, so at best it runs at the copy's bandwidth. Reported in ``benchmark.extra_info``: time per
call, achieved GB/s (2 x the tensor's bytes: one read, one write), and ``ratio_vs_clone`` =
clone time / FWHT time (1.0: as fast as a copy).

Timing: bench/gpu_timing.py's TIMING_METHOD (CUDA events per call, L2 flushed before each, median; each implementation timed once per run); the peer is timed in the same process.
Runs only under the project's ``pytest --benchmark`` flag, and only with a CUDA GPU.
"""


import pytest
import torch

from bench.gpu_timing import (
    GPU_ONLY,
    benchmark_per_call_s,
    machine_info,
    median_time_per_call_s,
    print_past_capture,
)
from kernels.hadamard import fwht, hadamard_reference

pytestmark = GPU_ONLY

SHAPE = (16384, 4096)
DTYPE = torch.bfloat16
IMPLS = ["triton_fwht", "clone"]


@pytest.fixture(scope="module")
def workload(request):
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(SHAPE, device="cuda", generator=g).to(DTYPE)
    # correctness first: a fast wrong answer is not a result
    assert torch.allclose(fwht(x[:64]).float(), hadamard_reference(x[:64]).float(), rtol=1e-2, atol=1e-2)
    fns = {"triton_fwht": lambda: fwht(x), "clone": lambda: x.clone()}
    info = machine_info()
    print_past_capture(request, [f"FWHT benchmark: kernels.hadamard.fwht vs x.clone() on {SHAPE[0]}x{SHAPE[1]} {DTYPE}",
                                 "machine: " + ", ".join(f"{k} {v}" for k, v in info.items())])
    return x, fns, info, {}


@pytest.mark.parametrize("impl", IMPLS)
def test_bench_hadamard(benchmark, workload, impl):
    x, fns, info, times = workload
    fn = fns[impl]
    benchmark.group = f"fwht {SHAPE[0]}x{SHAPE[1]} {DTYPE}"
    time_s, reps = benchmark_per_call_s(benchmark, fn, key=("hadamard", impl))
    if time_s is None:  # --benchmark-disable: the call ran once, untimed
        return
    times[impl] = time_s
    peer = "clone" if impl == "triton_fwht" else "triton_fwht"
    if peer not in times:
        peer_fn = fns[peer]
        times[peer] = median_time_per_call_s(peer_fn, key=("hadamard", peer))
    bytes_moved = 2 * x.numel() * x.element_size()
    benchmark.extra_info.update({
        "impl": impl,
        "shape": f"{SHAPE[0]}x{SHAPE[1]}",
        "dtype": str(DTYPE),
        "reps_per_round": reps,
        "time_s": time_s,
        "gb_per_s": bytes_moved / time_s / 1e9,
        "ratio_vs_clone": times["clone"] / time_s,
        "gpu": info["gpu"],
        "versions": {k: info[k] for k in ("python", "torch", "cuda", "triton")},
    })


def sm90_launches() -> None:
    """Every FWHT launch of this benchmark and of tests/test_kernels_hadamard.py's GPU test, for
    bench/sm90.py (CPU stand-ins; the launches only compile)."""
    from bench.sm90 import site

    with site(f"bench {SHAPE[0]}x{SHAPE[1]} {DTYPE}"):
        fwht(torch.empty(SHAPE, dtype=DTYPE))
        fwht(torch.empty(64, SHAPE[1], dtype=DTYPE))  # the correctness check's rows
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int32):
        for n in (128, 4096, 32768):
            with site(f"test_compiled_kernel_on_gpu {dtype} n={n}"):
                fwht(torch.zeros(64, n, dtype=dtype), normalize=False if dtype == torch.int32 else None)
