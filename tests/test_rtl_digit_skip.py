"""The zero-digit-skipping (OPT3) PE in Verilog, co-simulated under cocotb on Icarus and Verilator:
the RTL's dot products equal sim.digit_skip's (and the exact integer dot product), and the cycles
the bench counts from start to done equal the model's data-dependent count, workload by workload.

Cost: the workloads of a (simulator, encoding) pair go through one simulator run, one build folder
reused across runs; every workload is its own test item reading that run's results. Icarus builds
in well under a second, Verilator in 5-8 s per parameter set.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtl_models import cosim
from rtl_models.digit_skip_cosim import (
    CosimError,
    digit_skip_params,
    run_digit_skip_cosim,
    run_digit_skip_cosim_batch,
    run_digit_skip_gemm_cosim_batch,
)
from rtl_models.testing import SIMS, broken_rtl, needs, run_cache
from sim.digit_skip import DigitSkipConfig, simulate_dot, simulate_gemm, simulate_row
from sim.digits import gaussian_int8
from sim.workloads import edge_workloads

ENCODINGS = ("ent", "booth")


def _workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rand = lambda k: rng.integers(-128, 128, k, dtype=np.int8)  # noqa: E731
    out = [(f"random_k{k}", rand(k), rand(k)) for k in (1, 2, 3, 4, 5, 13, 16, 31)]
    out.append(("all_zero_k9", np.zeros(9, np.int8), rand(9)))
    out.append(("all_min_k64", np.full(64, -128, np.int8), np.full(64, -128, np.int8)))
    out.append(("all_max_k37", np.full(37, 127, np.int8), np.full(37, 127, np.int8)))
    extremes = np.array([-128, 127], np.int8)
    out.append(("mixed_extremes_k40", rng.choice(extremes, 40), rng.choice(extremes, 40)))
    out.append(("min_times_max_k33", np.full(33, -128, np.int8), np.full(33, 127, np.int8)))
    out.append(("gaussian_std10_k64", gaussian_int8(rng, 64, 10), gaussian_int8(rng, 64, 10)))
    out.append(("gaussian_std50_k64", gaussian_int8(rng, 64, 50), gaussian_int8(rng, 64, 50)))
    # a short vector after long ones: the buffer still holds stale elements beyond K
    out.append(("random_k6_after_long", rand(6), rand(6)))
    return out


WORKLOADS = _workloads()
NAMES = [name for name, _, _ in WORKLOADS]


@pytest.fixture(scope="module")
def golden_runs():
    """(sim, encoding) -> {workload name: CosimOutcome}, one simulator run per pair, on demand."""
    return run_cache(lambda sim, encoding: run_digit_skip_cosim_batch([(a, b) for _, a, b in WORKLOADS], encoding,
                                                                      sim=sim, seed=0), NAMES)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("sim", SIMS)
def test_rtl_matches_model(golden_runs, sim, encoding, name):
    _, a, b = WORKLOADS[NAMES.index(name)]
    res = golden_runs(sim, encoding)[name]
    model = simulate_dot(a, b, DigitSkipConfig(encoding))
    assert res.sim == sim
    assert res.value == model.value == int(a.astype(np.int64) @ b.astype(np.int64))
    assert res.cycles == model.cycles


@pytest.mark.rtl
def test_cycles_are_data_dependent_on_the_rtl(golden_runs):
    """Same K, different digits, different measured cycles: the skipping is real, not a constant."""
    res = golden_runs("icarus", "ent")
    assert res["all_min_k64"].cycles == 3 + 16 * 7  # one 4-select slot and three idle per group
    assert res["gaussian_std10_k64"].cycles < res["gaussian_std50_k64"].cycles < 3 + 16 * 16
    booth = golden_runs("icarus", "booth")
    assert booth["gaussian_std50_k64"].cycles > res["gaussian_std50_k64"].cycles


@pytest.mark.rtl
def test_narrow_accumulator_width():
    """ACC_W = 20: the largest K that cannot overflow (31), all -128 x -128."""
    needs("icarus")
    a = np.full(31, -128, np.int8)
    res = run_digit_skip_cosim(a, a, acc_bits=20, seed=2)
    assert res.value == 31 * 16384 and res.cycles == simulate_dot(a, a, DigitSkipConfig(acc_bits=20)).cycles
    assert digit_skip_params(DigitSkipConfig(acc_bits=20), 31) == {"ACC_W": 20, "DEPTH": 32, "ENC": 0, "N": 1}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_columns_share_one_digit_sequencer(sim):
    """N = 3 accumulator columns behind one encoder: a row of results in the cycles of one PE."""
    needs(sim)
    rng = np.random.default_rng(5)
    workloads = [
        (rng.integers(-128, 128, 13, dtype=np.int8), rng.integers(-128, 128, (13, 3), dtype=np.int8)),
        (gaussian_int8(rng, 32, 20), rng.integers(-128, 128, (32, 3), dtype=np.int8)),
        (np.full(8, -128, np.int8), np.array([[-128, 127, 0]] * 8, np.int8)),
        (np.zeros(5, np.int8), rng.integers(-128, 128, (5, 3), dtype=np.int8)),
    ]
    results = run_digit_skip_cosim_batch(workloads, "ent", sim=sim, seed=4)
    for (a, b), res in zip(workloads, results):
        model = simulate_row(a, b)
        np.testing.assert_array_equal(res.values, model.values)
        np.testing.assert_array_equal(res.values, a.astype(np.int64) @ b.astype(np.int64))
        assert res.cycles == model.cycles == simulate_dot(a, b[:, 0]).cycles
    with pytest.raises(ValueError, match=r"value is for one-column workloads; this one has N = 3: use values"):
        results[0].value


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_gemm_on_a_row_of_four_columns(sim):
    """The systolic family's golden GEMMs, folded onto a 4-column row: C and every fold's cycles."""
    needs(sim)
    golden = edge_workloads(seed=7)
    results = run_digit_skip_gemm_cosim_batch([(a, b) for _, a, b in golden], DigitSkipConfig(cols=4),
                                              sim=sim, seed=7)
    for (name, a, b), res in zip(golden, results):
        model = simulate_gemm(a, b, DigitSkipConfig(cols=4))
        np.testing.assert_array_equal(res.values, model.c, err_msg=name)
        np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64),
                                      err_msg=name)
        assert list(res.fold_cycles) == model.fold_cycles and res.cycles == model.cycles, name


# Mutations of the RTL that the bench must catch: a cycle lost in the drain (in the shared host
# walk, and in the top's choice of it), and a wrong digit.
MUTATIONS = [
    ("dot_host.v", "state <= (DRAIN != 0) ? MERGE : FIN;", "state <= FIN;",
     r"workload 0 \(K=5\): {c} cycles, model {m}"),
    ("digit_skip_pe.v", ".DRAIN(1)", ".DRAIN(0)", r"workload 0 \(K=5\): {c} cycles, model {m}"),
    ("digit_skip_pe.v", "assign two[j] = (r == 3'd2);", "assign two[j] = (r == 3'd1);",
     r"workload 0 \(K=5\) column 0: result -?\d+, model {v}"),
]


@pytest.mark.rtl
@pytest.mark.parametrize("fname,old,new,message", MUTATIONS, ids=["drain_cycle", "drain_param", "digit_value"])
def test_bench_catches_broken_rtl(tmp_path, monkeypatch, fname, old, new, message):
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, fname, old, new)
    a = np.array([3, -2, 127, -128, 6], np.int8)
    b = np.array([-7, 5, 1, 2, -3], np.int8)
    model = simulate_dot(a, b)
    with pytest.raises(CosimError, match=message.format(c=model.cycles - 1, m=model.cycles, v=model.value)):
        run_digit_skip_cosim(a, b, build_root=build_root)


# argument checks: no simulator runs, so no rtl marker
A = np.zeros(5, np.int8)


@pytest.mark.parametrize("kwargs,message", [
    (dict(sim="vcs"), r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(encoding="naf"), r"encoding must be one of \('ent', 'booth'\), got 'naf'"),
    (dict(acc_bits=12), r"acc_bits must be an integer in 16..64"),
    (dict(seed="x"), r"seed must be an integer, got 'x'"),
    (dict(a=np.zeros(0, np.int8), b=np.zeros(0, np.int8)), r"workload 0: K must be >= 1, got an empty vector"),
    (dict(a=np.array([1, 2, 300, 4, 5])), r"workload 0: a must be signed INT8 values in \[-128, 127\], got 300"),
    (dict(b=np.ones(5)), r"workload 0: b must be signed INT8 integers, got dtype float64"),
    (dict(b=np.ones(4, np.int8)), r"workload 0: a and b must have the same length K, got 5 and 4"),
    (dict(b=np.zeros((5, 0), np.int8)), r"workload 0: b must be a K x N matrix with N >= 1, got shape \(5, 0\)"),
    (dict(b=np.zeros((5, 2, 2), np.int8)), r"workload 0: b must be a K x N matrix with N >= 1, got shape \(5, 2, 2\)"),
    (dict(b=np.zeros((4, 2), np.int8)), r"workload 0: a and b must have the same length K, got 5 and 4"),
    (dict(a=np.zeros(8, np.int8), b=np.zeros(8, np.int8), acc_bits=18),
     r"workload 0: K = 8 can overflow a 18-bit accumulator \(max K 7\)"),
])
def test_rejects_bad_arguments(kwargs, message):
    args = dict(a=A, b=A, encoding="ent", sim="icarus") | kwargs
    with pytest.raises(ValueError, match=message):
        run_digit_skip_cosim(**args)


def test_batch_needs_pairs():
    with pytest.raises(ValueError, match="at least one"):
        run_digit_skip_cosim_batch([])
    with pytest.raises(ValueError, match=r"workload 0 must be an \(a, b\) pair of int8 vectors, got ndarray"):
        run_digit_skip_cosim_batch([A])
    with pytest.raises(ValueError, match=r"workload 1 has N = 2 columns, workload 0 has 1: one batch is one build"):
        run_digit_skip_cosim_batch([(A, A), (A, np.zeros((5, 2), np.int8))])
    with pytest.raises(ValueError, match=r"workload 0: a \(M x K\) and b \(K x N\) must be non-empty matrices"):
        run_digit_skip_gemm_cosim_batch([(np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int8))],
                                        DigitSkipConfig(cols=2))
    with pytest.raises(ValueError, match=r"cfg must be a DigitSkipConfig, got int"):
        run_digit_skip_gemm_cosim_batch([(A, A)], 4)


def test_pe_synthesises():
    """yosys takes the PE (encoders, digit picking, narrow and wide carry-save accumulators)."""
    from reports.synth import synthesize

    r = synthesize([cosim.VERILOG_DIR / "digit_skip_pe.v"], "digit_skip_pe", {"ACC_W": 32, "ENC": 0}, progress=None)
    # wide sum + carry + result (96), narrow pair (<= 24), lane_done, merge valid and shift
    assert 96 < r.flop_bits <= 96 + 24 + 4 + 3
    assert r.logic_depth > 10 and r.area_um2 > 0
