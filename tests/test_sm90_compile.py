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


def _counted_key(kernel: str, site: str):
    """The gpu_plan constant a benchmark site's kernel is priced by: (table name, key), or None."""
    import re

    m = re.match(r"bench (\w+) (\d+)x\d+x\d+$", site)
    if not m:
        return None
    impl, M = m.group(1), int(m.group(2))
    if kernel == "wonly_gemv_kernel" and re.fullmatch(r"w\d", impl):  # the OWQ variant uses its bits' figure
        return "WONLY_INSTR_PER_CODE", (int(impl[1:]), M)
    if kernel == "lut_gemm_kernel":
        return "LUT_INSTR_PER_BYTE_ROW", (impl, M)
    if kernel == "codebook_gemm_kernel":
        return "CODEBOOK_INSTR_PER_CODE", (int(impl.removeprefix("codebook")), M)
    return None


def test_gpu_plans_instruction_counts_are_the_compiled_kernels(launches):
    """bench/gpu_plan.py bounds the weight-only GEMV, LUT and codebook kernels by instruction issue
    with per-unit counts of their main loop's SASS: recounted here from this compilation (ptxas +
    nvdisasm), each must equal the plan's figure to two decimals, and every figure must be reached."""
    from bench import gpu_plan

    data, r = launches
    recounted, wrong = {}, []
    for ln in data:
        for site in ln["sites"]:
            key = _counted_key(ln["kernel"], site)
            if key is None:
                continue
            assert ln["loop_instructions"], f"{ln['kernel']} {ln['tiles']}: no main loop found in its SASS"
            got = round(gpu_plan.instructions_per_unit(ln["kernel"], ln["tiles"], ln["num_warps"],
                                                       ln["loop_instructions"]), 2)
            recounted[key] = got
            table, k = key
            if getattr(gpu_plan, table).get(k) != got:
                wrong.append(f"{table}[{k!r}] = {getattr(gpu_plan, table).get(k)}, compiled: {got} "
                             f"({ln['loop_instructions']} SASS instructions per pass, {ln['kernel']} {ln['tiles']})")
    assert not wrong, "bench/gpu_plan.py's instruction counts differ from the kernels as compiled now:\n" + "\n".join(wrong)
    for table in ("WONLY_INSTR_PER_CODE", "LUT_INSTR_PER_BYTE_ROW", "CODEBOOK_INSTR_PER_CODE"):
        unreached = sorted(set(getattr(gpu_plan, table)) - {k for t, k in recounted if t == table}, key=str)
        assert not unreached, f"{table} keys no benchmark launch compiles: {unreached}"


def test_main_loop_is_the_largest_innermost_loop():
    """bench.sm90's loop finder on a made-up listing: an outer loop around an inner one and a later
    flat loop; the trap after EXIT (a branch to itself) is not a loop."""
    from bench.sm90 import loops, main_loop_instructions

    lines = [".L_x_0:"] + [f"        /*{i * 16:04x}*/                   IADD3 R{i}, R{i}, 0x1, RZ ;" for i in range(2)]
    lines += [".L_x_1:"] + [f"        /*{i * 16:04x}*/                   FFMA R1, R2, R3, R1 ;" for i in range(2, 7)]
    lines += ["        /*0070*/              @P0 BRA `(.L_x_1) ;", "        /*0080*/              @P1 BRA `(.L_x_0) ;",
              ".L_x_2:"] + [f"        /*{i * 16:04x}*/                   FADD R1, R1, R1 ;" for i in range(9, 12)]
    lines += ["        /*00c0*/              @P2 BRA `(.L_x_2) ;", "        /*00d0*/                   EXIT ;",
              ".L_x_3:", "        /*00e0*/                   BRA `(.L_x_3);"]
    listing = "\n".join(lines)
    assert loops(listing) == [(2, 7), (0, 8), (9, 12)]
    assert main_loop_instructions(listing) == 6  # the inner loop: 5 FFMA + its branch
