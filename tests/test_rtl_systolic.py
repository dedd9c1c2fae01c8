"""The INT8 systolic arrays in Verilog, co-simulated under cocotb on Icarus and Verilator:
RTL C == sim.systolic's C == A @ B (int64), and the cycles the bench counts between start and
done equal the model's per fold and in total.

Cost: the golden workloads of a (simulator, dataflow) pair go through one simulator run (one
build folder, reused across runs and sessions), and every workload is its own test item reading
that run's results. Icarus builds in a fraction of a second, Verilator in about ten seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtl_models.cosim import CosimError, buffer_depth, main as cosim_main, replay
from rtl_models.systolic_cosim import run_cosim, run_cosim_batch
from rtl_models.testing import SIMS, broken_rtl, check_gemm_outcome, needs, run_cache
from sim.systolic import SystolicConfig, fold_cycles, simulate_gemm
from sim.workloads import accumulator_stress, edge_workloads

ROWS = COLS = 4
DATAFLOWS = ("os", "ws")
# the golden workloads (random, 1s, primes, multi-fold, extremes) plus the accumulator's worst case
WORKLOADS = edge_workloads(seed=0) + [accumulator_stress(61)]
NAMES = [name for name, _, _ in WORKLOADS]


@pytest.fixture(scope="module")
def golden_runs():
    """(sim, dataflow) -> {workload name: CosimOutcome}, one simulator run per pair, on demand."""
    return run_cache(lambda sim, dataflow: run_cosim_batch([(a, b) for _, a, b in WORKLOADS], ROWS, COLS, dataflow,
                                                           sim=sim, seed=0), NAMES)


def check_against_model(res, a, b, cfg):
    check_gemm_outcome(res, simulate_gemm(a, b, cfg), a, b)


@pytest.mark.rtl
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("sim", SIMS)
def test_golden_workloads(golden_runs, sim, dataflow, name):
    _, a, b = WORKLOADS[NAMES.index(name)]
    res = golden_runs(sim, dataflow)[name]
    assert res.sim == sim
    check_against_model(res, a, b, SystolicConfig(ROWS, COLS, dataflow))


@pytest.mark.rtl
@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("sim,rows,cols", [
    ("icarus", 1, 1), ("icarus", 2, 3), ("icarus", 5, 2),  # Verilator: the cross-check's os / ws arrays
])
def test_non_square_arrays(sim, rows, cols, dataflow):
    """Rows != columns catches any transposed index that a square array would hide."""
    needs(sim)
    rng = np.random.default_rng(rows * 10 + cols)
    workloads = [tuple(rng.integers(-128, 128, s, dtype=np.int8) for s in shapes)
                 for shapes in [((7, 11), (11, 5)), ((1, 3), (3, 1)), ((6, 2), (2, 7))]]
    results = run_cosim_batch(workloads, rows, cols, dataflow, sim=sim, seed=1)
    for (a, b), res in zip(workloads, results):
        check_against_model(res, a, b, SystolicConfig(rows, cols, dataflow))


@pytest.mark.rtl
@pytest.mark.parametrize("sim,dataflow", [("icarus", "os"), ("verilator", "ws")])
def test_run_cosim_keeps_a_vcd(sim, dataflow):
    needs(sim)
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (5, 6), dtype=np.int8)
    b = rng.integers(-128, 128, (6, 3), dtype=np.int8)
    res = run_cosim(a, b, 4, 4, dataflow, sim=sim, waves=True, seed=3)
    check_against_model(res, a, b, SystolicConfig(4, 4, dataflow))
    assert res.wave_file is not None and res.wave_file.suffix == ".vcd"
    head = res.wave_file.read_text(errors="replace")[:20000]
    assert "$var" in head and " done " in head  # a VCD with the array's signals in it


@pytest.mark.rtl
def test_build_folders_are_keyed_by_parameters_and_reused(tmp_path, capsys):
    """One folder per parameter set, reused; a build says it is compiling and how long the last
    build of that top took here."""
    needs("icarus")
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, (3, 5), dtype=np.int8)
    b = rng.integers(-128, 128, (5, 2), dtype=np.int8)
    first = run_cosim(a, b, 2, 2, "os", build_root=tmp_path)
    said = capsys.readouterr().err
    assert "bitweight: compiling systolic_host" in said and "an Icarus build takes about a second" in said
    built = (first.build_dir / "sim.vvp").stat().st_mtime_ns
    again = run_cosim(a, b, 2, 2, "os", build_root=tmp_path)
    assert again.build_dir == first.build_dir
    assert (again.build_dir / "sim.vvp").stat().st_mtime_ns == built  # not rebuilt
    assert "compiling" not in capsys.readouterr().err
    other = run_cosim(a, b, 2, 3, "os", build_root=tmp_path)  # another C: another folder
    assert re.search(r"the last icarus build of systolic_host_clocked here took \d+ s", capsys.readouterr().err)
    assert other.build_dir != first.build_dir and other.build_dir.parent == tmp_path
    assert first.build_dir.name.startswith("icarus-systolic_host_clocked-")
    assert buffer_depth(1) == 4 and buffer_depth(5) == 8 and buffer_depth(64) == 64


@pytest.mark.rtl
def test_bench_catches_an_rtl_cycle_off_by_one(tmp_path, monkeypatch):
    """Cycles are measured: an array that drains one cycle too long must fail the bench."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "os_systolic_array.v", "DRAIN_END_I = 2 * R + C - 3",
                            "DRAIN_END_I = 2 * R + C - 2", count=None)
    a = np.ones((2, 3), np.int8)
    with pytest.raises(CosimError, match=r"fold 0 .*: 14 cycles, model 13") as err:
        run_cosim(a, a.T.copy(), 4, 4, "os", build_root=build_root, seed=5)
    # the failure is replayable: the job is kept, the command printed, and Icarus's VCD kept
    message = str(err.value)
    kept = re.search(r"replay \(seed 5\): python -m rtl_models.cosim replay (\S+) --waves", message)
    vcd = re.search(r"waveform of the failing run: (\S+\.vcd)", message)
    assert kept and vcd and Path(vcd.group(1)).stat().st_size > 0
    with pytest.raises(CosimError, match=r"14 cycles, model 13(?s:.*)waveform of the failing run"):
        replay(kept.group(1), waves=True, build_root=build_root)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_host_and_port_driver_measure_the_same(sim):
    """The OS array through its bench-side host and through the Python port driver: the same C and
    the same per-fold cycles (both held to the model), with a fold that only partly fills the array."""
    needs(sim)
    rng = np.random.default_rng(7)
    work = [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
            for m, n, k in ((5, 7, 9), (4, 4, 1))]
    host = run_cosim_batch(work, 4, 4, "os", sim=sim)
    ports = run_cosim_batch(work, 4, 4, "os", sim=sim, driver="ports")
    assert host[0].build_dir.name.startswith(f"{sim}-systolic_host_clocked-")
    assert ports[0].build_dir.name.startswith(f"{sim}-os_systolic_array-")
    for h, p, (a, b) in zip(host, ports, work):
        check_gemm_outcome(h, simulate_gemm(a, b, SystolicConfig(4, 4, "os")), a, b)
        np.testing.assert_array_equal(h.values, p.values)
        assert h.fold_cycles == p.fold_cycles


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_native_driver_measures_what_the_host_measures(sim, dataflow):
    """The host under the HDL-only bench (no cocotb, rtl_models/native_host.py) and under the
    cocotb bench: the same C and the same per-fold cycles, both held to the model, on folded
    workloads with partial tiles and one workload that needs bigger images than the floor."""
    needs(sim)
    rng = np.random.default_rng(11)
    work = [(rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8))
            for m, n, k in ((5, 7, 9), (4, 4, 1), (3, 2, 40))]
    native = run_cosim_batch(work, 4, 4, dataflow, sim=sim, driver="native")
    host = run_cosim_batch(work, 4, 4, dataflow, sim=sim)
    assert native[0].build_dir.name.startswith(f"native-{sim}-systolic_host-")
    for nat, h, (a, b) in zip(native, host, work):
        check_gemm_outcome(nat, simulate_gemm(a, b, SystolicConfig(4, 4, dataflow)), a, b)
        np.testing.assert_array_equal(nat.values, h.values)
        assert nat.fold_cycles == h.fold_cycles and nat.cycles == h.cycles


@pytest.mark.rtl
def test_native_driver_reports_a_disagreement_with_a_replay_command(monkeypatch, tmp_path):
    """A model that expects one cycle more per fold: the native run fails naming the fold, keeps the
    workload's folder (images and replay.sh) and prints the command that runs it again."""
    needs("icarus")
    import rtl_models.benches.systolic_host_bench as bench

    monkeypatch.setattr(bench, "fold_cycles", lambda cfg, t: fold_cycles(cfg, t) + 1)
    rng = np.random.default_rng(2)
    a, b = rng.integers(-128, 128, (3, 5), dtype=np.int8), rng.integers(-128, 128, (5, 2), dtype=np.int8)
    with pytest.raises(CosimError) as info:
        run_cosim(a, b, 4, 4, "os", sim="icarus", driver="native", build_root=tmp_path)
    message = str(info.value)
    assert re.search(r"fold 0 .*: \d+ cycles, model \d+", message)
    kept = re.search(r"replay: cd (\S+) && ", message)
    assert kept and (Path(kept.group(1)) / "host_a.hex").exists() and (Path(kept.group(1)) / "replay.sh").exists()


@pytest.mark.rtl
def test_native_driver_stops_a_run_past_its_cycle_limit(monkeypatch, tmp_path):
    """The HDL-only bench's own limit: with a budget far below the job's cycles the run stops with
    its timeout line, and the error says so instead of waiting."""
    needs("icarus")
    import rtl_models.benches.systolic_host_bench as bench

    monkeypatch.setattr(bench, "_edge_budget", lambda cfg, workloads: -240)  # 4 x -240 + 1000 = 40 cycles
    a = np.ones((4, 30), np.int8)
    with pytest.raises(CosimError, match=r"the icarus run timed out(?s:.*)BITWEIGHT-TIMEOUT after 40 cycles"):
        run_cosim(a, a.T.copy(), 4, 4, "os", sim="icarus", driver="native", build_root=tmp_path)


def test_native_driver_refuses_waves_and_bad_arguments():
    a = np.zeros((2, 2), np.int8)
    with pytest.raises(ValueError, match="waves: the native driver keeps no waveform"):
        run_cosim(a, a, 4, 4, "os", driver="native", waves=True)
    with pytest.raises(ValueError, match="sim must be one of"):
        run_cosim(a, a, 4, 4, "os", driver="native", sim="xcelium")
    with pytest.raises(ValueError, match="driver must be one of .*native"):
        run_cosim(a, a, 4, 4, "os", driver="fast")
    with pytest.raises(ValueError, match="workload 0: a must be an int8"):
        run_cosim(a.astype(np.int16), a, 4, 4, "os", driver="native")


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMS)
def test_accumulator_top_bits_on_both_signs(sim):
    """|C| at 2^30 and beyond, positive and negative: `make coverage`'s functional bins showed the
    golden workloads stop below 2^23 (accumulator_stress(61) peaks at 61 x 2^14), so the top bits of
    the 32-bit accumulators never carried. K = 66,054 products of -128 x -128 (+2^30.0) and of
    -128 x 127 (-2^30.0) through a 2x2 OS array, and K = 1,000 (between 2^23 and 2^30)."""
    needs(sim)
    work = []
    for k in (66054, 1000):  # beyond 2^30, and between 2^23 and 2^30
        a = np.full((1, k), -128, np.int8)
        work.append((a, np.stack([np.full(k, -128, np.int8), np.full(k, 127, np.int8)], axis=1)))
    results = run_cosim_batch(work, 2, 2, "os", sim=sim)
    for res, (a, b) in zip(results, work):
        check_gemm_outcome(res, simulate_gemm(a, b, SystolicConfig(2, 2, "os")), a, b)
    assert results[0].values[0, 0] >= 2**30 and results[0].values[0, 1] <= -(2**30)
    assert 2**23 <= results[1].values[0, 0] < 2**30 and -(2**30) < results[1].values[0, 1] <= -(2**23)


@pytest.mark.rtl
def test_host_stops_at_a_fold_whose_done_never_comes(tmp_path, monkeypatch):
    """The OS host bounds every fold (twice the model's cycles plus 64): an array whose fold never
    ends fails with the fold named, after the host wrote what it had."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "os_fold_ctrl.v", "busy <= 1'b0;\n                    done <= 1'b1;",
                            "busy <= 1'b0;\n                    done <= 1'b0;")
    a = np.ones((6, 3), np.int8)
    with pytest.raises(CosimError, match=r"(?s)fold 0 .*done not seen within the fold's limit.*"
                                         r"the host stopped after 0 of 4 folds"):
        run_cosim(a, a.T.copy(), 4, 4, "os", build_root=build_root)


@pytest.mark.rtl
def test_host_checks_busy_against_done(tmp_path, monkeypatch):
    """The host checks the handshake as the port driver did: busy still high when done rose fails."""
    needs("icarus")
    build_root = broken_rtl(tmp_path, monkeypatch, "os_fold_ctrl.v", "busy <= 1'b0;\n                    done <= 1'b1;",
                            "busy <= 1'b1;\n                    done <= 1'b1;")
    a = np.ones((2, 3), np.int8)
    with pytest.raises(CosimError, match=r"fold 0 .*: busy still high on the edge done rose"):
        run_cosim(a, a.T.copy(), 4, 4, "os", build_root=build_root)


@pytest.mark.rtl
@settings(max_examples=6, deadline=None, derandomize=True)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 12)),
       array=st.tuples(st.integers(1, 4), st.integers(1, 4)), dataflow=st.sampled_from(DATAFLOWS),
       seed=st.integers(0, 2**16))
def test_random_shapes_through_the_host(shape, array, dataflow, seed):
    """Random shapes and array sizes through the host on Icarus, held to the model and to A @ B; a
    failure is shrunk by Hypothesis to the smallest shape and array that still fail (and printed
    with its seed and replay line)."""
    needs("icarus")
    (m, n, k), (rows, cols) = shape, array
    rng = np.random.default_rng(seed)
    a, b = rng.integers(-128, 128, (m, k), dtype=np.int8), rng.integers(-128, 128, (k, n), dtype=np.int8)
    res = run_cosim(a, b, rows, cols, dataflow, seed=seed)
    check_gemm_outcome(res, simulate_gemm(a, b, SystolicConfig(rows, cols, dataflow)), a, b)


def test_replay_refuses_what_it_cannot_run(tmp_path, capsys):
    assert cosim_main(["replay", str(tmp_path / "none.npz")]) == 2
    assert f"no kept co-simulation job at {tmp_path / 'none.npz'}" in capsys.readouterr().out
    np.savez(tmp_path / "job.npz", count=np.int64(0))
    with pytest.raises(ValueError, match=r"is not a job kept by a failed co-simulation"):
        replay(tmp_path / "job.npz")


# argument checks: no simulator runs, so no rtl marker
A = np.zeros((2, 3), np.int8)
B = np.zeros((3, 4), np.int8)


@pytest.mark.parametrize("kwargs,message", [
    (dict(rows=0), r"rows must be a positive integer, got 0"),
    (dict(cols=-2), r"cols must be a positive integer, got -2"),
    (dict(rows=2.0), r"rows must be a positive integer, got 2.0"),
    (dict(dataflow="is"), r"dataflow must be one of \('os', 'ws'\), got 'is'"),
    (dict(sim="vcs"), r"sim must be one of \('icarus', 'verilator'\), got 'vcs'"),
    (dict(a=A.astype(np.int32)), r"a must be an int8 numpy array, got int32"),
    (dict(b=B.tolist()), r"b must be an int8 numpy array, got list"),
    (dict(a=np.zeros(3, np.int8)), r"a must be a non-empty 2-D matrix, got shape \(3,\)"),
    (dict(b=np.zeros((0, 4), np.int8)), r"b must be a non-empty 2-D matrix, got shape \(0, 4\)"),
    (dict(b=np.zeros((4, 4), np.int8)), r"shape mismatch: a is \(2, 3\) \(M x K\) but b is \(4, 4\)"),
    (dict(seed="x"), r"seed must be an integer, got 'x'"),
    (dict(driver="vpi"), r"driver must be one of \('host', 'ports', 'native'\), got 'vpi'"),
])
def test_run_cosim_rejects_bad_arguments(kwargs, message):
    args = dict(a=A, b=B, rows=4, cols=4, dataflow="os", sim="icarus") | kwargs
    with pytest.raises(ValueError, match=message):
        run_cosim(**args)


def test_run_cosim_batch_needs_workloads():
    with pytest.raises(ValueError, match="at least one"):
        run_cosim_batch([], 4, 4, "os")
    with pytest.raises(ValueError, match=r"workload 0 must be an \(a, b\) pair"):
        run_cosim_batch([A], 4, 4, "os")


def test_verilator_opt_level_is_checked_and_keys_the_build(monkeypatch, tmp_path):
    """$BITWEIGHT_VERILATOR_OPT: a known -O flag, and builds at another level never share a folder."""
    from rtl_models import cosim

    monkeypatch.setenv(cosim.ENV_VERILATOR_OPT, "-O9")
    with pytest.raises(ValueError, match=r"\$BITWEIGHT_VERILATOR_OPT must be one of -O0, -O1, -O2, -O3, -Os, got '-O9'"):
        cosim._verilator_opt()
    monkeypatch.setenv(cosim.ENV_VERILATOR_OPT, "-O0")
    assert cosim._verilator_opt() == "-O0"
    monkeypatch.delenv(cosim.ENV_VERILATOR_OPT)
    assert cosim._verilator_opt() == "-O3"  # long simulations: the default
