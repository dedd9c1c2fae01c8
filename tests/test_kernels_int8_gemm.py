"""INT8 GEMM kernels (Triton, CuPy twin) against the torch reference, bit for bit.

Every correctness test runs once per device it can run on:

* ``cpu``: the Triton kernel in Triton's interpreter (``TRITON_INTERPRET=1``, set by
  ``kernels._triton_env`` on a machine without CUDA); skipped where Triton compiles instead;
* ``cuda``: the compiled Triton kernel and the CuPy twin, marked ``gpu``; skipped without a GPU.

Integer GEMM is exact, so every comparison is ``torch.equal``: no tolerance. Sizes are small
because the interpreter runs each program instance in Python on 2 CI cores.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.int8_gemm as int8_gemm_module
from kernels._validate import max_element_offset
from kernels.int8_gemm import (
    INT32_SAFE_MAX_K,
    TRITON_INTERPRET,
    count_ops,
    int8_gemm,
    int8_gemm_reference,
)
from kernels.int8_gemm_cupy import int8_gemm_cupy
from kernels.testing import DEVICES, HAS_CUDA, NEEDS_CUPY, NEEDS_GPU

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU, CUDA = DEVICES

# The CuPy twin exists on CUDA only.
needs_gpu = NEEDS_GPU


def int8_gemm_triton(a, b, **kw):
    return int8_gemm(a, b, **kw)


# The Triton kernel on every device it runs on; the CuPy twin on CUDA only.
KERNELS = [
    pytest.param(int8_gemm_triton, "cpu", id="triton-cpu-interpreter", marks=CPU.marks),
    pytest.param(int8_gemm_triton, "cuda", id="triton-cuda", marks=CUDA.marks),
    pytest.param(int8_gemm_cupy, "cuda", id="cupy-cuda", marks=NEEDS_CUPY),
]


def rand_int8(shape, seed, device, low=-128, high=128):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, dtype=torch.int8, generator=g).to(device)


def exact_cpu(a, b):
    """An independent exact product: int64 on CPU, whatever device the operands are on."""
    return (a.cpu().to(torch.int64) @ b.cpu().to(torch.int64)).to(torch.int32)


def assert_exact(kernel, a, b):
    a0, b0 = a.clone(), b.clone()
    got = kernel(a, b)
    want = int8_gemm_reference(a, b)
    assert got.dtype == torch.int32 and got.shape == (a.shape[0], b.shape[1])
    assert got.device == a.device
    assert torch.equal(got, want), f"kernel differs from the reference at {tuple(a.shape)} @ {tuple(b.shape)}"
    assert torch.equal(want.cpu(), exact_cpu(a, b))
    assert torch.equal(a, a0) and torch.equal(b, b0), "kernel modified its inputs"


# ---------------------------------------------------------------------------------- shapes
# Ones, primes, just-below/above the interpreter tile (32) and GPU tiles (64, 128), skinny.
SHAPES = [
    (1, 1, 1),
    (1, 1, 7),
    (2, 3, 5),
    (1, 97, 3),
    (17, 1, 129),
    (13, 7, 257),
    (31, 37, 41),
    (32, 32, 32),
    (33, 33, 33),
    (64, 64, 64),
    (65, 63, 127),
    (96, 80, 100),
]


@pytest.mark.parametrize("kernel, device", KERNELS)
@pytest.mark.parametrize("M, N, K", SHAPES, ids=lambda v: str(v))
def test_random_matrices_match_reference(kernel, device, M, N, K):
    seed = 1000 * M + 10 * N + K
    assert_exact(kernel, rand_int8((M, K), seed, device), rand_int8((K, N), seed + 1, device))


@pytest.mark.parametrize("kernel, device", KERNELS)
def test_zero_sized_dims(kernel, device):
    # K = 0 is an empty sum (all zeros); M = 0 or N = 0 is an empty result.
    for M, N, K in [(3, 5, 0), (0, 4, 6), (4, 0, 6)]:
        a, b = rand_int8((M, K), 1, device), rand_int8((K, N), 2, device)
        got = kernel(a, b)
        assert got.shape == (M, N) and got.dtype == torch.int32
        assert torch.equal(got.cpu(), torch.zeros((M, N), dtype=torch.int32))


# ---------------------------------------------------------------------------------- edge values
def _extremes(kind, M, N, K, device):
    """Operands that push the accumulator to its extremes or mix them."""
    if kind == "all_-128":  # largest positive sum: (-128) * (-128) * K
        return torch.full((M, K), -128, dtype=torch.int8), torch.full((K, N), -128, dtype=torch.int8)
    if kind == "all_127":
        return torch.full((M, K), 127, dtype=torch.int8), torch.full((K, N), 127, dtype=torch.int8)
    if kind == "-128_x_127":  # most negative sum: -128 * 127 * K
        return torch.full((M, K), -128, dtype=torch.int8), torch.full((K, N), 127, dtype=torch.int8)
    if kind == "checkerboard":  # signs alternate along K, so partial sums swing both ways
        i, k, j = torch.arange(M)[:, None], torch.arange(K), torch.arange(N)
        a = torch.where((i + k) % 2 == 0, -128, 127).to(torch.int8)
        b = torch.where((k[:, None] + j) % 3 == 0, -128, 127).to(torch.int8)
        return a, b
    if kind == "random_extremes":  # only the values at and next to the range ends
        vals = torch.tensor([-128, -127, -1, 0, 1, 126, 127], dtype=torch.int8)
        g = torch.Generator().manual_seed(7)
        return (vals[torch.randint(0, 7, (M, K), generator=g)],
                vals[torch.randint(0, 7, (K, N), generator=g)])
    raise ValueError(kind)


@pytest.mark.parametrize("kernel, device", KERNELS)
@pytest.mark.parametrize("kind", ["all_-128", "all_127", "-128_x_127", "checkerboard", "random_extremes"])
def test_edge_values(kernel, device, kind):
    a, b = _extremes(kind, 37, 41, 1000, device)
    assert_exact(kernel, a.to(device), b.to(device))


@pytest.mark.parametrize("kernel, device", KERNELS)
def test_accumulator_at_the_int32_bound(kernel, device):
    # K = 131071 is the largest K accepted: (-128)^2 * K = 2147467264 <= 2**31 - 1, and
    # -128 * 127 * K = -2130706432. One row of -128 against a column of -128 and one of 127.
    K = INT32_SAFE_MAX_K
    a = torch.full((1, K), -128, dtype=torch.int8, device=device)
    b = torch.empty((K, 2), dtype=torch.int8, device=device)
    b[:, 0], b[:, 1] = -128, 127
    got = kernel(a, b).cpu()
    assert got.tolist() == [[128 * 128 * K, -128 * 127 * K]]


# ---------------------------------------------------------------------------------- layouts
def _view(kind, rows, cols, seed, device):
    """A (rows x cols) int8 matrix laid out as `kind`, as a non-contiguous view where possible."""
    if kind == "contiguous":
        return rand_int8((rows, cols), seed, device)
    if kind == "transposed":  # column-major
        return rand_int8((cols, rows), seed, device).t()
    if kind == "step":  # every other column: inner stride 2
        return rand_int8((rows, 2 * cols), seed, device)[:, ::2]
    if kind == "offset":  # storage offset and padded row stride
        return rand_int8((rows + 1, cols + 3), seed, device)[1:, 2:-1]
    if kind == "broadcast":  # one row repeated: row stride 0
        return rand_int8((1, cols), seed, device).expand(rows, cols)
    raise ValueError(kind)


LAYOUTS = ["contiguous", "transposed", "step", "offset", "broadcast"]


@pytest.mark.parametrize("kernel, device", KERNELS)
@pytest.mark.parametrize("layout_a", LAYOUTS)
@pytest.mark.parametrize("layout_b", ["contiguous", "transposed", "step"])
def test_non_contiguous_inputs(kernel, device, layout_a, layout_b):
    M, N, K = 35, 33, 70
    a, b = _view(layout_a, M, K, 3, device), _view(layout_b, K, N, 4, device)
    assert_exact(kernel, a, b)


@pytest.mark.parametrize("kernel, device", KERNELS)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "step"])
def test_out_argument_is_filled_and_returned(kernel, device, layout):
    M, N, K = 34, 29, 45
    a, b = rand_int8((M, K), 5, device), rand_int8((K, N), 6, device)
    backing = torch.full((N, M) if layout == "transposed" else (M, 2 * N), -7, dtype=torch.int32, device=device)
    out = {"contiguous": backing[:, :N], "transposed": backing.t(), "step": backing[:, ::2]}[layout]
    got = kernel(a, b, out=out)
    assert got is out
    assert torch.equal(out, int8_gemm_reference(a, b))
    if layout == "step":  # the columns between must be untouched
        assert torch.all(backing[:, 1::2] == -7)


# ---------------------------------------------------------------------------------- property
@pytest.mark.parametrize("kernel, device", KERNELS)
@settings(max_examples=40, deadline=None)
@given(
    M=st.integers(1, 70),
    N=st.integers(1, 70),
    K=st.integers(1, 140),
    seed=st.integers(0, 2**31 - 1),
    values=st.sampled_from(["uniform", "extremes", "small"]),
    transpose_a=st.booleans(),
    transpose_b=st.booleans(),
)
def test_property_any_shape_and_layout(kernel, device, M, N, K, seed, values, transpose_a, transpose_b):
    low, high = {"uniform": (-128, 128), "extremes": (-128, -126), "small": (-2, 3)}[values]
    a = rand_int8((K, M) if transpose_a else (M, K), seed, device, low, high)
    b = rand_int8((N, K) if transpose_b else (K, N), seed + 1, device, low, high)
    a = a.t() if transpose_a else a
    b = b.t() if transpose_b else b
    if values == "extremes":  # -128 and 127 only, random signs
        a = torch.where(a == -128, -128, 127).to(torch.int8)
        b = torch.where(b == -127, -128, 127).to(torch.int8)
    assert_exact(kernel, a, b)


# ---------------------------------------------------------------------------------- bad input
def _i8(*shape):
    return torch.zeros(shape, dtype=torch.int8)


BAD_INPUTS = [
    pytest.param(lambda: ([[1]], _i8(1, 1)), {}, TypeError, r"^a must be a torch\.Tensor, got list$", id="a-list"),
    pytest.param(lambda: (_i8(1, 1), 3), {}, TypeError, r"^b must be a torch\.Tensor, got int$", id="b-int"),
    pytest.param(lambda: (torch.zeros(2, 3), _i8(3, 4)), {}, TypeError,
                 r"^a must have dtype torch\.int8, got torch\.float32$", id="a-float32"),
    pytest.param(lambda: (_i8(2, 3), torch.zeros(3, 4, dtype=torch.uint8)), {}, TypeError,
                 r"^b must have dtype torch\.int8, got torch\.uint8$", id="b-uint8"),
    pytest.param(lambda: (_i8(2, 3, 4), _i8(4, 5)), {}, ValueError,
                 r"^a must be a 2-D matrix, got a 3-D tensor of shape \(2, 3, 4\)$", id="a-3d"),
    pytest.param(lambda: (_i8(2, 3), _i8(3)), {}, ValueError,
                 r"^b must be a 2-D matrix, got a 1-D tensor of shape \(3,\)$", id="b-1d"),
    pytest.param(lambda: (_i8(3, 4), _i8(5, 6)), {}, ValueError,
                 r"^inner dimensions must match: a is \(M, K\) = \(3, 4\) but b is \(K, N\) = \(5, 6\)$",
                 id="inner-mismatch"),
    pytest.param(lambda: (_i8(2, 3), _i8(3, 4).to("meta")), {}, ValueError,
                 r"^a and b must be on the same device, got a on cpu and b on meta$", id="device-mismatch"),
    pytest.param(lambda: (_i8(1, INT32_SAFE_MAX_K + 1), _i8(INT32_SAFE_MAX_K + 1, 1)), {}, ValueError,
                 r"^K = 131072 exceeds 131071 = \(2\*\*31-1\)//\(128\*128\), the largest K for which "
                 r"the int32 accumulator cannot overflow$", id="K-too-large"),
]

BAD_OUT = [
    pytest.param(lambda: (_i8(2, 3), _i8(3, 4)), {"out": [[0]]}, TypeError,
                 r"^out must be a torch\.Tensor, got list$", id="out-list"),
    pytest.param(lambda: (_i8(2, 3), _i8(3, 4)), {"out": torch.zeros(2, 4, dtype=torch.int64)}, TypeError,
                 r"^out must have dtype torch\.int32, got torch\.int64$", id="out-int64"),
    pytest.param(lambda: (_i8(2, 3), _i8(3, 4)), {"out": torch.zeros(4, 2, dtype=torch.int32)}, ValueError,
                 r"^out must have shape \(M, N\) = \(2, 4\), got \(4, 2\)$", id="out-shape"),
    pytest.param(lambda: (_i8(2, 3), _i8(3, 4)), {"out": torch.zeros(2, 4, dtype=torch.int32, device="meta")},
                 ValueError, r"^out must be on the operands' device cpu, got meta$", id="out-device"),
]


@pytest.mark.parametrize("make, kwargs, error, message", BAD_INPUTS + BAD_OUT)
def test_bad_input_is_rejected_with_a_clear_message(make, kwargs, error, message):
    a, b = make()
    if "out" in kwargs and not TRITON_INTERPRET:
        pytest.skip("the out= checks follow the device check, which rejects CPU tensors when compiling")
    with pytest.raises(error, match=message):
        int8_gemm(a, b, **kwargs)


@pytest.mark.parametrize("make, kwargs, error, message", BAD_INPUTS)
def test_reference_rejects_the_same_bad_input(make, kwargs, error, message):
    a, b = make()
    with pytest.raises(error, match=message):
        int8_gemm_reference(a, b)


def test_unsupported_device_is_rejected():
    a, b = _i8(2, 3).to("meta"), _i8(3, 4).to("meta")
    with pytest.raises(ValueError, match=r"^a and b are on meta; int8_gemm runs on cuda \(or on cpu under TRITON_INTERPRET=1\)$"):
        int8_gemm(a, b)


def test_cpu_tensors_without_interpreter_are_rejected(monkeypatch):
    # As on a GPU machine, where TRITON_INTERPRET is not set and Triton compiles for CUDA.
    monkeypatch.setattr(int8_gemm_module, "TRITON_INTERPRET", False)
    monkeypatch.setattr(int8_gemm_module, "CPU_LAUNCH_OK", False)
    with pytest.raises(RuntimeError, match=r"^a and b are on cpu but TRITON_INTERPRET=1 is not set: "
                                           r"the compiled Triton kernel needs CUDA tensors"):
        int8_gemm(_i8(2, 3), _i8(3, 4))


def test_max_element_offset_guards_int32_indexing():
    # The launcher rejects views reaching past 2**31 - 1 elements; the helper is what it asks.
    assert max_element_offset(_i8(3, 5)) == 14
    assert max_element_offset(_i8(3, 5).t()) == 14
    assert max_element_offset(_i8(1, 5).expand(1000, 5)) == 4
    assert max_element_offset(_i8(0, 5)) == 0


def _run_python(code, env_update):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(env_update)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_interpreter_policy_follows_cuda_availability():
    # Unset TRITON_INTERPRET: interpreter exactly when there is no CUDA device.
    r = _run_python("import torch, kernels.int8_gemm as k; "
                    "print(k.TRITON_INTERPRET, not torch.cuda.is_available())", {})
    assert r.returncode == 0, r.stderr
    got, expected = r.stdout.split()
    assert got == expected


def test_explicit_triton_interpret_0_is_respected():
    r = _run_python(
        "import torch, kernels.int8_gemm as k\n"
        "assert not k.TRITON_INTERPRET\n"
        "try:\n"
        "    k.int8_gemm(torch.zeros(2, 3, dtype=torch.int8), torch.zeros(3, 4, dtype=torch.int8))\n"
        "except RuntimeError as e:\n"
        "    print(e)\n",
        {"TRITON_INTERPRET": "0"},
    )
    assert r.returncode == 0, r.stderr
    assert "TRITON_INTERPRET=1 is not set" in r.stdout


def test_gpu_code_imports_without_the_rtl_tool_chain():
    # The GPU machine has no cocotb/pyverilog/yosys: kernels/ and the GPU benchmark must not
    # pull in sim/, rtl_models/ or those tools (checked in a fresh interpreter).
    from bench.gpu_check import check_imports

    assert check_imports() == []


@pytest.mark.skipif(HAS_CUDA, reason="checks the path taken without a GPU")
def test_gpu_check_degrades_cleanly_without_gpu():
    r = _run_python("import sys, bench.gpu_check as g; sys.exit(g.main([]))", {})
    assert r.returncode == 0, r.stderr
    assert "no GPU: torch.cuda.is_available() is False" in r.stdout
    r = _run_python("import sys, bench.gpu_check as g; sys.exit(g.main(['--require-gpu']))", {})
    assert r.returncode == 1


# ---------------------------------------------------------------------------------- reference
@pytest.mark.parametrize("device", [pytest.param("cpu", id="cpu"), CUDA])
@pytest.mark.parametrize("M, N, K", [(33, 16, 24), (5, 7, 9), (17, 8, 8), (16, 8, 8)], ids=str)
def test_reference_is_exact(device, M, N, K):
    # On CUDA this covers both branches: torch._int_mm (M > 16, K, N multiples of 8) and float64.
    a, b = _extremes("random_extremes", M, N, K, device)
    a, b = a.to(device), b.to(device)
    got = int8_gemm_reference(a, b)
    assert got.dtype == torch.int32 and got.device == a.device
    assert torch.equal(got.cpu(), exact_cpu(a, b))


def test_count_ops():
    ops = count_ops(2, 3, 4)
    assert (ops.macs, ops.ops, ops.bytes_moved) == (24, 48, 2 * 4 + 4 * 3 + 4 * 2 * 3)
    assert ops.arithmetic_intensity == 48 / 44
    with pytest.raises(ValueError, match=r"^K must be a non-negative int, got -1$"):
        count_ops(2, 3, -1)


def test_gpu_configs_fit_hopper():
    # Checked here because the autotuner only meets them on a GPU: every config is a legal
    # tl.dot tile (>= 16 per side, BLOCK_K >= 32 for int8), fits 228 KB of shared memory per
    # SM (H100/H200) with its pipeline stages, and pruning never leaves an empty list.
    configs = int8_gemm_module._gpu_configs()
    for c in configs:
        bm, bn, bk = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]
        assert min(bm, bn) >= 16 and bk >= 32
        assert c.num_stages * (bm * bk + bk * bn) <= 228 * 1024
    for M in (1, 16, 32):  # skinny: no tile taller than 64 rows
        kept = int8_gemm_module._prune_configs(configs, {"M": M, "N": 4096, "K": 4096})
        assert kept and all(c.kwargs["BLOCK_M"] <= 64 for c in kept)
    for M in (33, 4096):  # otherwise: no tile shorter than wgmma's 64 rows
        kept = int8_gemm_module._prune_configs(configs, {"M": M, "N": 4096, "K": 4096})
        assert kept and all(c.kwargs["BLOCK_M"] >= 64 for c in kept)


# ---------------------------------------------------------------------------------- GPU only
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_gpu_runs_compiled_not_interpreted():
    assert not TRITON_INTERPRET, "TRITON_INTERPRET is set on a GPU machine: the GPU tests would test the interpreter"


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("M, N, K", [(17, 8, 8), (32, 64, 128), (200, 96, 800), (1024, 1024, 4096)], ids=str)
@pytest.mark.parametrize("kernel", [int8_gemm_triton, pytest.param(int8_gemm_cupy, marks=NEEDS_CUPY)], ids=["triton", "cupy"])
def test_gpu_matches_torch_int_mm(kernel, M, N, K):
    # The largest shape is above SMALL_PROBLEM_MACS, so it goes through the autotuned configs.
    a, b = rand_int8((M, K), M + K, "cuda"), rand_int8((K, N), N + K, "cuda")
    assert torch.equal(kernel(a, b), torch._int_mm(a, b))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("kernel", [int8_gemm_triton, pytest.param(int8_gemm_cupy, marks=NEEDS_CUPY)], ids=["triton", "cupy"])
def test_gpu_large_column_major_operands(kernel):
    # Column-major A and B (cuBLASLt's favourite B layout) through the autotuned configs: a new
    # stride specialisation, so every config is compiled once more; one shape keeps that cheap.
    M, N, K = 1024, 768, 4096
    a, b = rand_int8((M, K), 11, "cuda"), rand_int8((K, N), 12, "cuda")
    want = torch._int_mm(a, b)
    a_col, b_col = a.t().contiguous().t(), b.t().contiguous().t()
    assert torch.equal(torch._int_mm(a, b_col), want)
    assert torch.equal(kernel(a_col, b_col), want)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
@NEEDS_CUPY[1]
def test_gpu_cupy_accepts_cupy_arrays_and_checks_them():
    cupy = pytest.importorskip("cupy")
    a, b = rand_int8((40, 72), 1, "cuda"), rand_int8((72, 24), 2, "cuda")
    ca, cb = cupy.from_dlpack(a), cupy.from_dlpack(b)
    got = int8_gemm_cupy(ca, cb)
    assert isinstance(got, cupy.ndarray)
    assert torch.equal(torch.from_dlpack(got), int8_gemm_reference(a, b))
    out = cupy.empty((40, 24), dtype=cupy.int32)
    assert int8_gemm_cupy(ca, cb, out=out) is out
    with pytest.raises(TypeError, match=r"^a and b must be of one kind, got a cupy array and a torch array$"):
        int8_gemm_cupy(ca, b)
    with pytest.raises(TypeError, match=r"^a must have dtype torch\.int8, got torch\.float32$"):
        int8_gemm_cupy(ca.astype(cupy.float32), cb)
    with pytest.raises(ValueError, match=r"^a and b must be on a CUDA device, got cpu$"):
        int8_gemm_cupy(a.cpu(), b.cpu())
    with pytest.raises(ValueError, match=r"^inner dimensions must match"):
        int8_gemm_cupy(a, b[:5])
    with pytest.raises(TypeError, match=r"^a must be a torch\.Tensor or a cupy\.ndarray, got list$"):
        int8_gemm_cupy([[1]], b)


@pytest.mark.skipif(HAS_CUDA, reason="checks the path taken without a GPU")
def test_cupy_twin_without_gpu_raises_runtime_error():
    with pytest.raises(RuntimeError, match=r"^int8_gemm_cupy needs .*(CuPy is not installed|CUDA GPU)"):
        int8_gemm_cupy(_i8(2, 3), _i8(3, 4))
