"""The low-bit MAC arrays: INT4 / INT2 weights x INT8 activations on the OS and WS systolic arrays
(B_W = 4, 2), co-simulated on Icarus and Verilator against sim.systolic, and cross-checked with
the weight-only kernel path of kernels/lowbit.py and kernels/wonly_gemm.py, exactly.

How asymmetric codes meet a signed PE: the weight-only format stores unsigned codes c in
0..2^b-1 with a zero point z per (output, group); the PE multiplies signed b-bit weights. Feeding
it c - 2^(b-1) (signed b bits, always in range) and adding one correction per output and group,

    sum_k x_k (c_k - z) = sum_k x_k (c_k - 2^(b-1)) + (2^(b-1) - z) * sum_{k in group} x_k,

gives the kernel's integer product exactly. The test checks: RTL C == model C (and cycles), RTL C
+ correction == x @ (codes - zeros)^T in int64 == the Triton kernel run on the packed operands
with unit scales (its fp32 sums are exact integers here, far below 2^24).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels.lowbit import rtn_quantize
from kernels.wonly_gemm import wonly_gemm
from rtl_models.systolic_cosim import run_cosim_batch
from rtl_models.testing import run_cache
from sim.systolic import SystolicConfig, simulate_gemm

ROWS = COLS = 4
# (M, K, N, group size): tiles that fold in M, N and K on a 4 x 4 array; K, M <= 16 keep DEPTH 16
SHAPES = [(6, 8, 5, 4), (3, 12, 9, 6), (1, 16, 4, 16)]
# Verilator builds cost ~10 s each, Icarus well under one: Icarus runs every (dataflow, bits),
# Verilator the WS array at 2 bits (the OS array at 4 and 2 bits is the cross-check's os_w4a8 and
# os_w2a8, tests/test_crosscheck.py), so each simulator sees both dataflows and both widths.
RUNS = [("icarus", df, bits) for df in ("os", "ws") for bits in (4, 2)] + [("verilator", "ws", 2)]


def _case(bits: int, seed: int):
    """Workloads from the kernel path: int8 activations, RTN codes of a float weight, packed."""
    out = []
    for i, (M, K, N, g) in enumerate(SHAPES):
        gen = torch.Generator().manual_seed(seed * 10 + i)
        x = torch.randint(-128, 128, (M, K), dtype=torch.int8, generator=gen)
        if i == len(SHAPES) - 1:
            x[:] = -128  # the accumulator's extreme together with the most negative weights
        qw = rtn_quantize(torch.randn(N, K, generator=gen), bits, g)
        if i == len(SHAPES) - 1:
            qw = type(qw)(torch.zeros_like(qw.codes), qw.scales, qw.zeros, qw.outlier_idx, qw.outlier_weight, bits, g)
        out.append((x, qw))
    return out


def _signed_weights(qw) -> np.ndarray:
    """B (K x N) for the array: codes - 2^(b-1), signed b bits, as int8."""
    return (qw.codes.to(torch.int16) - 2 ** (qw.bits - 1)).T.contiguous().numpy().astype(np.int8)


def _zero_point_correction(x: torch.Tensor, qw) -> np.ndarray:
    """(2^(b-1) - z[n, g]) * sum_{k in g} x[m, k], summed over groups: int64 (M, N)."""
    M, K = x.shape
    g = qw.group_size
    xsum = x.to(torch.int64).reshape(M, K // g, g).sum(dim=2)  # (M, G)
    offset = 2 ** (qw.bits - 1) - qw.zeros.to(torch.int64)  # (N, G)
    return (xsum @ offset.T).numpy()


@pytest.fixture(scope="module")
def cosim_runs():
    def run(sim, dataflow, bits):
        case = _case(bits, seed=bits)
        return case, run_cosim_batch([(x.numpy(), _signed_weights(qw)) for x, qw in case], ROWS, COLS, dataflow,
                                     sim=sim, seed=bits, b_bits=bits)

    return run_cache(run)


@pytest.mark.rtl
@pytest.mark.parametrize("sim,dataflow,bits", RUNS)
def test_lowbit_array_matches_model_and_kernel(cosim_runs, sim, dataflow, bits):
    case, results = cosim_runs(sim, dataflow, bits)
    cfg = SystolicConfig(ROWS, COLS, dataflow, b_bits=bits)
    for (x, qw), rtl in zip(case, results):
        a, b = x.numpy(), _signed_weights(qw)
        assert int(b.min()) >= -(2 ** (bits - 1)) and int(b.max()) <= 2 ** (bits - 1) - 1
        model = simulate_gemm(a, b, cfg)
        np.testing.assert_array_equal(rtl.values, model.c)
        assert list(rtl.fold_cycles) == list(model.fold_cycles) and rtl.cycles == model.cycles
        # the kernel path's integer product: x @ (codes - zeros)^T, exactly
        g = qw.group_size
        w_int = qw.codes.to(torch.int64) - qw.zeros.to(torch.int64).repeat_interleave(g, dim=1)
        exact = (x.to(torch.int64) @ w_int.T).numpy()
        np.testing.assert_array_equal(rtl.values.astype(np.int64) + _zero_point_correction(x, qw), exact)
        ops = qw.pack()
        y = wonly_gemm(x.to(torch.float32), ops["qweight"], torch.ones_like(ops["scales"]), ops["zeros"], bits, g,
                       out_dtype=torch.float32)
        np.testing.assert_array_equal(y.numpy().astype(np.int64), exact)


@pytest.mark.parametrize("b_bits,b,message", [
    (1, None, r"b_bits must be an integer weight width in 2..8, got 1"),
    (9, None, r"b_bits must be an integer weight width in 2..8, got 9"),
    (4, np.full((3, 2), 8, np.int8), r"workload 0: b holds values outside the signed 4-bit range \[-8, 7\] \(min 8, max 8\)"),
    (2, np.full((3, 2), -3, np.int8), r"signed 2-bit range \[-2, 1\]"),
])
def test_run_cosim_batch_checks_weight_width(b_bits, b, message):
    a = np.zeros((2, 3), np.int8)
    b = np.zeros((3, 2), np.int8) if b is None else b
    with pytest.raises(ValueError, match=message):
        run_cosim_batch([(a, b)], 4, 4, "os", b_bits=b_bits)
