"""The three-way cross-check, driven by the engine registry: on the same golden tensors,

    GPU kernel (Triton; interpreted on the CPU here) == torch reference == cycle model == RTL,

bit for bit, and the RTL's measured cycles == the model's, fold by fold, on both simulators.
The tensors: random, edge values and awkward shapes (sim/workloads.py) and slices of a real
model's INT8 weights and activations (kernels/real_tensors.py).
A family registered in reports/registry.py is picked up here without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.real_tensors import real_int8_gemms
from reports.registry import engines, load
from rtl_models.runner import simulator_missing

ROWS, COLS = 4, 4


def _torch(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


GEMM_ENGINES = engines("int_gemm_array")
# slices of all-MiniLM-L6-v2's INT8 weights and its INT8 activations on real text (the same
# golden tensors for every implementation), beside the random and edge-value workloads
REAL_WORKLOADS = real_int8_gemms(max_m=8, max_n=7, max_k=24, layers=["blocks.0.q", "blocks.2.ffn_up", "blocks.5.ffn_down"])


@pytest.fixture(scope="module", params=sorted(GEMM_ENGINES))
def engine_case(request):
    """The engine, its golden workloads, and each workload's model and kernel results."""
    engine = GEMM_ENGINES[request.param]
    workloads = load(engine.workloads)(seed=7) + REAL_WORKLOADS
    cfg = engine.config(ROWS, COLS)
    simulate, kernel, reference = load(engine.model), load(engine.kernel), load(engine.kernel_reference)
    rows = []
    for name, a, b in workloads:
        model = simulate(a, b, cfg)
        out_kernel = kernel(_torch(a), _torch(b)).numpy()
        out_ref = reference(_torch(a), _torch(b)).numpy()
        rows.append((name, a, b, model, out_kernel, out_ref))
    return engine, rows


def test_kernel_reference_and_model_agree(engine_case):
    engine, rows = engine_case
    for name, a, b, model, out_kernel, out_ref in rows:
        exact = a.astype(np.int64) @ b.astype(np.int64)
        assert out_kernel.dtype == np.int32, name
        np.testing.assert_array_equal(out_kernel.astype(np.int64), exact, err_msg=f"kernel, {name}")
        np.testing.assert_array_equal(out_ref.astype(np.int64), exact, err_msg=f"torch reference, {name}")
        np.testing.assert_array_equal(model.c, out_kernel, err_msg=f"cycle model vs kernel, {name}")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_rtl_agrees_with_kernel_and_model(engine_case, sim):
    reason = simulator_missing(sim)
    if reason:
        pytest.skip(reason)
    engine, rows = engine_case
    cosim = load(engine.cosim)
    cfg = engine.config(ROWS, COLS)
    results = cosim([(a, b) for _, a, b, *_ in rows], ROWS, COLS, cfg.dataflow, sim=sim, seed=7, pe=cfg.pe)
    assert len(results) == len(rows)
    for (name, a, b, model, out_kernel, _), rtl in zip(rows, results):
        np.testing.assert_array_equal(rtl.c, out_kernel, err_msg=f"RTL ({sim}) vs kernel, {name}")
        assert rtl.fold_cycles == model.fold_cycles, f"{name}: RTL cycles per fold differ from the model's"
        assert rtl.cycles == model.cycles
