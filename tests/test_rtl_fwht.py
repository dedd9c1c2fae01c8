"""The FWHT butterfly network three ways, on the same int8 vectors:

    Triton kernel (int32, interpreted on the CPU here) == sim.hadamard == Verilog (Icarus, Verilator)

bit for bit, and the cycles the cocotb bench measures (latency of one vector, cycles of a batch
streamed back to back, one output per clock) == the model's L + B - 1.

Cost: every (simulator, N) pair sends all its batches through one simulator run; Icarus builds
in well under a second, Verilator in a few seconds per N (cached in rtl_models/build).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.hadamard import fwht
from rtl_models.cosim import CosimError
from rtl_models.fwht_cosim import run_fwht_cosim, run_fwht_cosim_batch
from rtl_models.testing import SIMS, broken_rtl, needs
from sim.hadamard import (
    FwhtConfig,
    edge_workloads,
    fwht_exact,
    hadamard_matrix,
    simulate_fwht,
)


def kernel_int32(x: np.ndarray) -> np.ndarray:
    return fwht(torch.from_numpy(x.astype(np.int32))).numpy().astype(np.int64)


@pytest.mark.rtl
@pytest.mark.parametrize("n", [8, 16])
@pytest.mark.parametrize("sim", SIMS)
def test_kernel_model_and_rtl_agree(sim, n):
    needs(sim)
    cfg = FwhtConfig(n, 8)
    batches = edge_workloads(n)
    results = run_fwht_cosim_batch([x for _, x in batches], n, sim=sim, seed=n)
    assert len(results) == len(batches)
    for (name, x), rtl in zip(batches, results):
        model = simulate_fwht(x, cfg)
        np.testing.assert_array_equal(kernel_int32(x), model.y, err_msg=f"kernel vs model, {name}")
        np.testing.assert_array_equal(model.y, x @ hadamard_matrix(n), err_msg=f"model vs dense H, {name}")
        np.testing.assert_array_equal(rtl.values, model.y, err_msg=f"RTL ({sim}) vs model, {name}")
        assert rtl.sim == sim
        assert rtl.extra["latency_cycles"] == model.latency_cycles == cfg.stages, name
        assert rtl.cycles == model.cycles == cfg.stages + len(x) - 1, name
        # throughput: one vector per clock once the pipeline is full
        assert rtl.extra["output_edges"] == list(range(cfg.stages, cfg.stages + len(x))), name


@pytest.mark.rtl
@pytest.mark.parametrize("n,in_bits", [(2, 8), (4, 3), (8, 16)])
def test_other_lengths_and_widths_on_icarus(n, in_bits):
    needs("icarus")
    cfg = FwhtConfig(n, in_bits)
    batches = [x for _, x in edge_workloads(n, in_bits, seed=1)]
    for x, rtl in zip(batches, run_fwht_cosim_batch(batches, n, in_bits=in_bits, seed=1)):
        model = simulate_fwht(x, cfg)
        np.testing.assert_array_equal(rtl.values, fwht_exact(x))
        assert (rtl.cycles, rtl.extra["latency_cycles"]) == (model.cycles, model.latency_cycles)


@pytest.mark.rtl
def test_bench_catches_a_late_output(tmp_path, monkeypatch):
    """Cycles are measured: a network whose out_valid comes one clock late must fail the bench."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "fwht_butterfly.v", "assign out_valid = valid_q[L-1];",
                            "reg late_q;\n    always @(posedge clk) late_q <= valid_q[L-1];\n"
                            "    assign out_valid = late_q;", count=None)
    with pytest.raises(CosimError, match=r"batch 0 \(1 vectors\): 4 cycles \(latency 4\), model 3 \(latency 3\)"):
        run_fwht_cosim(np.ones((1, 8), np.int8), 8, build_root=build_root)


@pytest.mark.rtl
def test_bench_catches_a_wrong_butterfly(tmp_path, monkeypatch):
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "fwht_butterfly.v", "diff <= a_x - b_x;", "diff <= b_x - a_x;",
                            count=None)
    with pytest.raises(CosimError, match=r"batch 0: \d+ outputs differ from the model; first y\[0,1\]"):
        run_fwht_cosim(np.arange(8, dtype=np.int8), 8, build_root=build_root)


# argument checks: no simulator runs, so no rtl marker
@pytest.mark.parametrize("kwargs,exc,message", [
    (dict(n=6), ValueError, r"n must be a power of two >= 2 .*got 6"),
    (dict(in_bits=1), ValueError, r"in_bits must be an integer input width in 2..32 bits, got 1"),
    (dict(sim="vcs"), ValueError, r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(seed="x"), ValueError, r"seed must be an integer, got 'x'"),
    (dict(x_int=np.zeros((2, 8), np.float32)), TypeError,
     r"batch 0: x must be an integer array \(e.g. int8\), got dtype float32"),
    (dict(x_int=np.zeros((2, 4), np.int8)), ValueError,
     r"batch 0: x has 4 elements per vector, the network takes n = 8"),
    (dict(x_int=np.full((1, 8), 200)), ValueError, r"batch 0: x holds values outside the signed 8-bit range"),
])
def test_run_fwht_cosim_rejects_bad_arguments(kwargs, exc, message):
    args = dict(x_int=np.zeros((2, 8), np.int8), n=8, sim="icarus") | kwargs
    with pytest.raises(exc, match=message):
        run_fwht_cosim(**args)


def test_run_fwht_cosim_batch_needs_a_list_of_batches():
    with pytest.raises(ValueError, match="at least one"):
        run_fwht_cosim_batch([], 8)
    with pytest.raises(TypeError, match=r"batches must be a list of integer arrays, got ndarray"):
        run_fwht_cosim_batch(np.zeros((2, 8), np.int8), 8)
