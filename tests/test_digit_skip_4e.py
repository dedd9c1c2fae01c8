"""The OPT4E engine (4 zero-digit-skipping sub-PEs sharing one 6:2 compressor): the model in
sim/digit_skip_4e.py against exact integer arithmetic and OPT3's per-slot digit counts, its
clock-stepped registers against its closed forms, the data-free estimate against simulated means,
its errors, and the Verilog (rtl_models/verilog/digit_skip_4e.v) on Icarus and Verilator against
the model, results and cycles.

RTL cost: one Icarus build per parameter set (< 1 s) and two Verilator builds (N = 1 and N = 2,
~7 s each), every batch one simulator run.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtl_models.digit_skip_4e_cosim import (
    CosimError,
    digit_skip_4e_params,
    run_digit_skip_4e_cosim,
    run_digit_skip_4e_cosim_batch,
    run_digit_skip_4e_gemm_cosim_batch,
)
from rtl_models.sources import sources_for
from rtl_models.testing import broken_rtl, needs, run_cache
from sim import digit_skip as ds
from sim import digit_skip_4e as d4
from sim.digits import gaussian_int8, nonzero_digits_per_group

Cfg = d4.DigitSkip4EConfig


def exact_dot(a, b) -> int:
    return sum(int(x) * int(y) for x, y in zip(np.ravel(a), np.ravel(b)))


def formula_cycles(a, encoding="ent") -> int:
    """1 + sum over super-slots of max(1, max over the 4 sub-PEs of OPT3's count n[g, j]) + 2,
    from sim.digit_skip's per-group counts, grouped into chunks here."""
    n = nonzero_digits_per_group(a, encoding)  # (groups, 4): OPT3's per-slot counts
    groups = -(-n.shape[0] // 4) * 4
    n = np.vstack([n, np.zeros((groups - n.shape[0], 4), n.dtype)]).reshape(-1, 4, 4)
    return 1 + int(np.maximum(n.max(axis=1), 1).sum()) + 2


# ------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 70), encoding=st.sampled_from(["ent", "booth"]), seed=st.integers(0, 2**32 - 1),
       extremes=st.booleans())
def test_stepwise_proves_closed_form(k, encoding, seed, extremes):
    """Clock-stepping every register lands on the exact value and the closed-form cycles and events."""
    rng = np.random.default_rng(seed)
    if extremes:
        a, b = (rng.choice(np.array([-128, -1, 0, 1, 2, 127], np.int8), k) for _ in range(2))
    else:
        a, b = (rng.integers(-128, 128, k, dtype=np.int8) for _ in range(2))
    cfg = Cfg(encoding)
    res = d4.simulate_dot(a, b, cfg, mode="stepwise")  # raises if stepwise and closed forms disagree
    assert d4.simulate_dot_stepwise(a, b, cfg) == (res.value, res.cycles, res.events)
    assert res.value == exact_dot(a, b)
    assert res.cycles == formula_cycles(a, encoding) == d4.dot_cycles(a, cfg)
    assert res.slot_cycles.shape == (-(-k // 16), 4)
    ev = res.events
    assert 4 * ev["compressions"] == ev["selects"] + ev["lane_idle"] + 4 * ev["idle_slots"]
    assert ev["compressions"] == res.cycles - 3 and ev["selects"] == int(nonzero_digits_per_group(a, encoding).sum())
    # never slower than one OPT3 PE on the same K; equal while only sub-PE 0 has elements
    opt3 = ds.dot_cycles(a, ds.DigitSkipConfig(encoding))
    assert res.cycles <= opt3 and (k > 4 or res.cycles == opt3)


def test_hand_counted_cycles_and_events():
    cfg = Cfg("ent")
    zero = d4.simulate_dot(np.zeros(20, np.int8), np.full(20, 7, np.int8), cfg, mode="stepwise")
    # 2 chunks x 4 positions, every super-slot idle: 8 + start + merge + final add
    assert (zero.value, zero.cycles) == (0, 11)
    assert zero.events == {"encodes": 20, "selects": 0, "idle_slots": 8, "lane_idle": 0, "zero_digits_skipped": 80,
                           "compressions": 8, "merges": 8, "shifts": 6, "final_adds": 1, "b_reads": 0}
    # -128 = -2 * 4^3: every sub-PE selects 4 at position 3 (16 terms of +256: the 14-bit narrow pair's
    # largest sum, 4096), three idle super-slots
    low = d4.simulate_dot(np.full(16, -128, np.int8), np.full(16, -128, np.int8), cfg, mode="stepwise")
    assert (low.value, low.cycles) == (16 * 16384, 3 + 3 + 4)
    assert (low.events["selects"], low.events["idle_slots"], low.events["lane_idle"]) == (16, 3, 0)
    # 7 = -1 + 2 * 4 in EN-T: sub-PE 0 has 4 digits at positions 0 and 1, the other three wait
    a = np.array([7, 7, 7, 7] + [0] * 12, np.int8)
    b = np.arange(-8, 8).astype(np.int8)
    busy = d4.simulate_dot(a, b, cfg, mode="stepwise")
    assert (busy.value, busy.cycles) == (7 * (-8 - 7 - 6 - 5), 3 + 4 + 4 + 1 + 1)
    assert (busy.events["lane_idle"], busy.events["idle_slots"]) == (2 * 12, 2)
    np.testing.assert_array_equal(busy.counts[0, :, :2], [[4, 4], [0, 0], [0, 0], [0, 0]])
    one = d4.simulate_dot([1], [-5], cfg, mode="stepwise")
    assert (one.value, one.cycles, one.events["lane_idle"]) == (-5, 7, 3)


def test_narrow_and_wide_accumulator_limits():
    a = np.full(31, -128, np.int8)  # ACC_W = 20: the largest K that cannot overflow
    res = d4.simulate_dot(a, a, Cfg(acc_bits=20), mode="stepwise")
    assert res.value == 31 * 16384
    rng = np.random.default_rng(1)
    for _ in range(20):  # super-slots full of +-2B terms of both signs
        a = rng.choice(np.array([-128, 127, -126, 126], np.int8), 48)
        b = rng.choice(np.array([-128, 127], np.int8), 48)
        assert d4.simulate_dot(a, b, mode="stepwise").value == exact_dot(a, b)


def test_faster_than_opt3_on_gaussian_data():
    rng = np.random.default_rng(2)
    for std in (10, 30, 50):
        a = gaussian_int8(rng, 2048, std)
        speedup = ds.dot_cycles(a, ds.DigitSkipConfig()) / d4.dot_cycles(a)
        assert 2.5 < speedup < 4, (std, speedup)


def test_row_of_columns_shares_the_sequencers():
    rng = np.random.default_rng(6)
    a = rng.integers(-128, 128, 21, dtype=np.int8)
    b = rng.integers(-128, 128, (21, 3), dtype=np.int8)
    row = d4.simulate_row(a, b, mode="stepwise")
    np.testing.assert_array_equal(row.values, [exact_dot(a, b[:, c]) for c in range(3)])
    single = d4.simulate_dot(a, b[:, 0])
    assert row.cycles == single.cycles
    for key, value in single.events.items():  # the accumulator's events N times, the sequencers' once
        assert row.events[key] == value * (3 if key in d4.PER_COLUMN_EVENTS else 1)


@pytest.mark.parametrize("cols", [1, 2, 4])
def test_gemm_folds_rows_over_column_tiles(cols):
    rng = np.random.default_rng(cols)
    a = rng.integers(-128, 128, (4, 19), dtype=np.int8)
    b = rng.integers(-128, 128, (19, 7), dtype=np.int8)
    cfg = Cfg(cols=cols)
    res = d4.simulate_gemm(a, b, cfg, mode="stepwise")
    assert res.c.dtype == np.int32 and res.shape == (4, 7, 19) and res.config is cfg
    np.testing.assert_array_equal(res.c, [[exact_dot(a[i], b[:, j]) for j in range(7)] for i in range(4)])
    tiles = -(-7 // cols)
    assert res.fold_cycles == [formula_cycles(a[i]) for i in range(4) for _ in range(tiles)]
    assert res.cycles == sum(res.fold_cycles)
    assert res.events["encodes"] == 19 * 4 * tiles
    assert res.events["compressions"] == cols * (res.cycles - 3 * len(res.fold_cycles))


def test_edge_workloads_through_the_model():
    for name, a, b in d4.edge_workloads(seed=3):
        res = d4.simulate_gemm(a, b, Cfg(cols=2))
        np.testing.assert_array_equal(res.c, a.astype(np.int64) @ b.astype(np.int64), err_msg=name)


# ------------------------------------------------------------------------------------------
# the data-free estimate
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, -128, 127, 37, -7])
def test_estimate_is_exact_on_constant_data(value):
    """A point-mass pmf: every count is deterministic, so the expectation must equal the model."""
    for k in (1, 5, 16, 17, 40):
        a = np.full((1, k), value, np.int8)
        pmf = ds.int8_pmf(a)
        exact = d4.simulate_gemm(a, np.ones((k, 3), np.int8), Cfg(cols=2))
        est = d4.estimate_gemm(1, 3, k, Cfg(cols=2), pmf)
        assert est.cycles == pytest.approx(exact.cycles)
        assert est.events == pytest.approx(exact.events)
        assert d4.expected_dot_cycles(k, pmf) == pytest.approx(exact.fold_cycles[0])


@pytest.mark.parametrize("encoding", ["ent", "booth"])
def test_estimate_matches_simulated_means_on_gaussian_data(encoding):
    """Expected cycles and events per dot product within 4 standard errors of the means over 3000
    simulated Gaussian (std 30) rows; a GEMM's estimate is M ceil(N / cols) of them."""
    rng = np.random.default_rng(0)
    cfg = Cfg(encoding)
    k, rows = 37, 3000  # K not a multiple of 16: the padded tail chunk is in the formula
    a = gaussian_int8(rng, rows * k, 30).reshape(rows, k)
    pmf = ds.int8_pmf(gaussian_std=30.0)
    sims = [d4.simulate_dot(row, row, cfg) for row in a]
    est = d4.estimate_gemm(1, 1, k, cfg, pmf)
    samples = {"cycles": [r.cycles for r in sims]} | {e: [r.events[e] for r in sims] for e in sims[0].events}
    expected = {"cycles": est.cycles} | est.events
    assert d4.expected_dot_cycles(k, pmf, encoding) == pytest.approx(est.cycles)
    for name, values in samples.items():
        values = np.asarray(values, np.float64)
        stderr = values.std(ddof=1) / np.sqrt(rows)
        assert abs(values.mean() - expected[name]) <= 4 * stderr + 1e-9, (name, values.mean(), expected[name])
    # the GEMM scaling: folds = M ceil(N / cols); accumulator events once per column
    big = d4.estimate_gemm(30, 7, k, Cfg(encoding, cols=2), pmf)
    assert big.cycles == pytest.approx(30 * 4 * est.cycles) and big.shape == (30, 7, k)
    for e, v in est.events.items():
        assert big.events[e] == pytest.approx(30 * 4 * v * (2 if e in d4.PER_COLUMN_EVENTS else 1)), e
    assert d4.estimate_gemm(1, 1, k).cycles == pytest.approx(d4.expected_dot_cycles(k, pmf))  # default pmf


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    (dict(encoding="naf"), r"encoding must be one of \('ent', 'booth'\), got 'naf'"),
    (dict(a_bits=4), r"a_bits must be 8: the digit encoder and the PE are INT8 only, got 4"),
    (dict(acc_bits=8), r"acc_bits must be an integer in 16..64 \(at least the product width 16\), got 8"),
    (dict(acc_bits=32.0), r"acc_bits must be an integer in 16..64 .* got 32.0"),
    (dict(cols=0), r"cols must be a positive integer \(accumulator columns\), got 0"),
    (dict(cols=True), r"cols must be a positive integer \(accumulator columns\), got True"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Cfg(**kwargs)


@pytest.mark.parametrize("a,b,message", [
    (np.zeros(0, np.int8), np.zeros(0, np.int8), r"K must be >= 1, got an empty vector"),
    ([1, 2], [1], r"a and b must have the same length K, got 2 and 1"),
    ([[1, 2]], [[1, 2]], r"a must be a 1-D vector \(length K\), got shape \(1, 2\)"),
    ([1, 200], [1, 2], r"a must be signed INT8 values in \[-128, 127\], got 200 at index \(1,\)"),
    ([1, 2], [1.5, 2.0], r"b must be signed INT8 integers, got dtype float64"),
    (np.zeros(32, np.int8), np.zeros(32, np.int8), r"K = 32 can overflow a 20-bit accumulator \(max K 31\)"),
])
def test_bad_operands(a, b, message):
    with pytest.raises(ValueError, match=message):
        d4.simulate_dot(a, b, Cfg(acc_bits=20))
    with pytest.raises(ValueError, match=message):
        d4.simulate_dot_stepwise(a, b, Cfg(acc_bits=20))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"mode must be 'fast' or 'stepwise', got 'slow'"):
        d4.simulate_dot([1], [1], mode="slow")
    with pytest.raises(ValueError, match=r"cfg must be a DigitSkip4EConfig, got DigitSkipConfig"):
        d4.simulate_dot([1], [1], ds.DigitSkipConfig())
    with pytest.raises(ValueError, match=r"b must be a K x N matrix with N >= 1, got shape \(3,\)"):
        d4.simulate_row([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match=r"shape mismatch: a is \(2, 3\) \(M x K\) but b is \(4, 2\) \(K x N\)"):
        d4.simulate_gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8))
    with pytest.raises(ValueError, match=r"a and b must be non-empty 2-D matrices, got shapes \(3,\) and \(3, 2\)"):
        d4.simulate_gemm(np.zeros(3, np.int8), np.zeros((3, 2), np.int8))
    with pytest.raises(ValueError, match=r"GEMM dimension N must be a positive integer, got 0"):
        d4.estimate_gemm(1, 0, 4)
    with pytest.raises(ValueError, match=r"K = 200000 can overflow a 32-bit accumulator \(max K 131071\)"):
        d4.estimate_gemm(1, 1, 200000)
    with pytest.raises(ValueError, match=r"K must be a positive integer, got 0"):
        d4.expected_dot_cycles(0, ds.int8_pmf(gaussian_std=3.0))
    with pytest.raises(ValueError, match=r"cfg must be a DigitSkip4EConfig, got DigitSkipConfig"):
        run_digit_skip_4e_gemm_cosim_batch([(np.zeros((1, 2), np.int8), np.zeros((2, 1), np.int8))],
                                           ds.DigitSkipConfig())


A = np.zeros(5, np.int8)


@pytest.mark.parametrize("kwargs,message", [
    (dict(sim="vcs"), r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(encoding="naf"), r"encoding must be one of \('ent', 'booth'\), got 'naf'"),
    (dict(seed="x"), r"seed must be an integer, got 'x'"),
    (dict(b=np.ones(4, np.int8)), r"workload 0: a and b must have the same length K, got 5 and 4"),
    (dict(b=np.zeros((5, 0), np.int8)), r"workload 0: b must be a K x N matrix with N >= 1, got shape \(5, 0\)"),
    (dict(a=np.zeros(32, np.int8), b=np.zeros(32, np.int8), acc_bits=20),
     r"workload 0: K = 32 can overflow a 20-bit accumulator \(max K 31\)"),
])
def test_cosim_rejects_bad_arguments(kwargs, message):
    args = dict(a=A, b=A, encoding="ent", sim="icarus") | kwargs
    with pytest.raises(ValueError, match=message):
        run_digit_skip_4e_cosim(**args)
    with pytest.raises(ValueError, match="at least one"):
        run_digit_skip_4e_cosim_batch([])
    with pytest.raises(ValueError, match=r"workload 1 has N = 2 columns, workload 0 has 1: one batch is one build"):
        run_digit_skip_4e_cosim_batch([(A, A), (A, np.zeros((5, 2), np.int8))])


def test_sources_and_parameters():
    """The group's sources: its own file, OPT3's sequencer, the generated 6:2 tree and the shared
    host interface of the dot-product tops, nothing else."""
    names = [p.name for p in sources_for("digit_skip_4e_dot")]
    assert names == ["csa_tree6.v", "digit_skip_4e.v", "digit_skip_pe.v", "dot_host.v"]
    assert [p.name for p in sources_for("digit_skip_4e_pe")] == names
    assert digit_skip_4e_params(Cfg(acc_bits=20), 5) == {"ACC_W": 20, "DEPTH": 16, "ENC": 0, "N": 1}
    assert digit_skip_4e_params(Cfg("booth"), 33, cols=2) == {"ACC_W": 32, "DEPTH": 64, "ENC": 1, "N": 2}


# ------------------------------------------------------------------------------------------
# the Verilog, co-simulated
# ------------------------------------------------------------------------------------------


def _dot_workloads(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    rand = lambda k: rng.integers(-128, 128, k, dtype=np.int8)  # noqa: E731
    extremes = np.array([-128, 127], np.int8)
    return [
        ("k1", rand(1), rand(1)),
        ("random_k5", rand(5), rand(5)),
        ("random_k16", rand(16), rand(16)),
        ("random_k37", rand(37), rand(37)),
        ("all_zero_k20", np.zeros(20, np.int8), rand(20)),
        ("all_min_k64", np.full(64, -128, np.int8), np.full(64, -128, np.int8)),
        ("mixed_extremes_k40", rng.choice(extremes, 40), rng.choice(extremes, 40)),
        ("gaussian_std30_k48", gaussian_int8(rng, 48, 30), gaussian_int8(rng, 48, 30)),
        ("one_busy_sub_pe_k16", np.array([7, 7, 7, 7] + [0] * 12, np.int8), rand(16)),
        ("random_k6_after_long", rand(6), rand(6)),  # stale buffer elements beyond K are masked
    ]


WORKLOADS = _dot_workloads()
NAMES = [name for name, _, _ in WORKLOADS]
# Verilator runs this top (N = 4 columns, EN-T) in tests/test_crosscheck.py's opt4e: one build, shared
RUNS = [("icarus", "ent"), ("icarus", "booth")]


@pytest.fixture(scope="module")
def golden_runs():
    """(sim, encoding) -> {workload name: CosimOutcome}, one simulator run per pair, on demand."""
    return run_cache(lambda sim, encoding: run_digit_skip_4e_cosim_batch([(a, b) for _, a, b in WORKLOADS], encoding,
                                                                         sim=sim, seed=0), NAMES)


@pytest.mark.rtl
@pytest.mark.parametrize("sim,encoding", RUNS)
def test_rtl_matches_model(golden_runs, sim, encoding):
    results = golden_runs(sim, encoding)
    for name, a, b in WORKLOADS:
        res, model = results[name], d4.simulate_dot(a, b, Cfg(encoding))
        assert res.sim == sim
        assert res.value == model.value == exact_dot(a, b), name
        assert res.cycles == model.cycles == formula_cycles(a, encoding), name
    assert results["all_min_k64"].cycles == 3 + 4 * (3 + 4)  # per chunk: 3 idle super-slots, one of 4 cycles
    assert results["one_busy_sub_pe_k16"].cycles == 3 + 4 + 4 + 1 + 1


@pytest.mark.rtl
@pytest.mark.parametrize("sim", ["icarus"])  # Verilator: the cross-check's opt4e
def test_gemm_on_a_row_of_two_columns(sim):
    """The edge GEMMs folded onto N = 2 shared-compressor columns: C and every fold's cycles."""
    needs(sim)
    golden = d4.edge_workloads(seed=7)
    results = run_digit_skip_4e_gemm_cosim_batch([(a, b) for _, a, b in golden], Cfg(cols=2), sim=sim, seed=7)
    for (name, a, b), res in zip(golden, results):
        model = d4.simulate_gemm(a, b, Cfg(cols=2))
        np.testing.assert_array_equal(res.values, model.c, err_msg=name)
        np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64),
                                      err_msg=name)
        assert list(res.fold_cycles) == model.fold_cycles and res.cycles == model.cycles, name


# Mutations of the RTL the bench must catch: the lock-step (a finished sub-PE selecting again),
# and the super-slot ending when the first sub-PE is done instead of the last.
MUTATIONS = [
    ("assign sel_valid = valid_p & ~sub_done;", "assign sel_valid = valid_p;", r"column 0: result -?\d+, model {v}"),
    ("assign slot_last = &(last_p | sub_done);", "assign slot_last = |(last_p | sub_done);",
     r"workload 0 \(K=16\): \d+ cycles, model {c}"),
]


@pytest.mark.rtl
@pytest.mark.parametrize("old,new,message", MUTATIONS, ids=["lock_step", "super_slot_end"])
def test_bench_catches_broken_rtl(tmp_path, monkeypatch, old, new, message):
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "digit_skip_4e.v", old, new)
    a = np.array([7, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, -128, 5, 0, 0], np.int8)
    b = np.array([-7, 5, 1, 2, -3, 9, 4, 4, 1, 1, 1, 1, 3, -2, 6, 6], np.int8)
    model = d4.simulate_dot(a, b)
    with pytest.raises(CosimError, match=message.format(c=model.cycles, v=model.value)):
        run_digit_skip_4e_cosim(a, b, build_root=build_root)


def test_pe_synthesises():
    """yosys takes the group (4 sequencers, the shared 6:2 tree, narrow and wide carry-save pairs)."""
    from reports.synth import synthesize

    r = synthesize(sources_for("digit_skip_4e_pe"), "digit_skip_4e_pe", {"ACC_W": 32, "ENC": 0}, progress=None)
    # wide sum + carry + result (96), the 14-bit narrow pair, 4 lane_done, sub_done, merge valid and shift
    assert 96 + 2 * 14 < r.flop_bits <= 96 + 2 * 14 + 16 + 4 + 3
    assert r.logic_depth > 10 and r.area_um2 > 0


@pytest.mark.parametrize("engine", ["opt3", "opt4e"])
def test_kernel_equals_model_on_the_golden_gemms(engine):
    """Kernel == model on each digit-skipping engine's golden GEMMs (the RTL tests hold the model
    to the RTL on the same vectors): the registry's kernel, model and workloads, nothing else."""
    import torch

    from reports.registry import get_engine, load

    e = get_engine(engine)
    kernel, model, cfg = load(e.kernel), load(e.model), e.config(cols=2)
    for name, (a, b) in ((c.name, c.operands) for c in e.golden(7)):
        c_kernel = kernel(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_array_equal(c_kernel, model(a, b, cfg).c, err_msg=f"{engine} {name}")
