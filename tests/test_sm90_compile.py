"""Every Triton kernel, at every configuration its launcher or autotuner can pick at the benchmark
and GPU-test shapes, compiled for sm_90 (H100 / H200) without a GPU: none may ask for more shared
memory than a block can have (232,448 B) or spill registers, and every kernel in kernels/ must be
reached by some family's ``sm90_launches()`` (bench/sm90.py). Fails when a configuration that cannot
launch, or a kernel nobody compiles, is added."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import triton

ROOT = Path(__file__).resolve().parents[1]
PTXAS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    if not PTXAS.exists():
        pytest.skip(f"no ptxas in this Triton install ({PTXAS})")
    out = tmp_path_factory.mktemp("sm90") / "launches.json"
    r = subprocess.run([sys.executable, "-m", "bench.sm90", "--json", str(out), "--jobs", "2"], cwd=ROOT,  # ~2 min cold
                       capture_output=True, text=True, timeout=3000,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.exists(), r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text()), r


def test_every_family_compiles(launches):
    from bench.sm90 import families

    data, r = launches
    assert {ln["family"] for ln in data} == set(families()), r.stdout[-3000:]
    assert set(families()) >= {"int8_gemm", "hadamard", "hadamard_ext", "fp8_gemm", "halo", "lut_gemm", "bcq_paths",
                               "wonly_gemm", "bitplane"}


def test_no_configuration_exceeds_shared_memory_or_spills(launches):
    data, r = launches
    bad = [f"{ln['kernel']} {ln['tiles']} w{ln['num_warps']} s{ln['num_stages']}: {'; '.join(ln['problems'])} "
           f"(from {ln['sites'][0]})" for ln in data if ln["problems"]]
    assert not bad, "\n".join(bad)
    assert all(ln["shared"] <= 232_448 and ln["spill_stores"] == 0 and ln["regs"] <= 255 for ln in data)


def test_every_triton_kernel_is_reached(launches):
    from bench.sm90 import triton_kernels

    data, r = launches
    missing = sorted(set(triton_kernels()) - {ln["kernel"] for ln in data})
    assert not missing, f"Triton kernels no sm90_launches() compiles: {missing}"
    assert r.returncode == 0, r.stdout[-3000:]


def test_fp8_gemms_use_hopper_tensor_cores_and_tma_exactly_where_asked(launches):
    # every FP8 GEMM configuration compiles to wgmma; only the TMA kernels (TMA and persistent) copy
    # through TMA
    data, _ = launches
    gemms = [ln for ln in data if ln["kernel"].startswith("fp8_gemm")]
    assert {ln["kernel"] for ln in gemms} >= {"fp8_gemm_kernel", "fp8_gemm_tma_kernel", "fp8_gemm_persistent_kernel"}
    for ln in gemms:
        assert ln["wgmma"], ln
        assert ln["tma"] == (ln["kernel"] != "fp8_gemm_kernel"), ln
