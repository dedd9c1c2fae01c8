"""Design-space sweeps (reports/dse/): the space file, the results database, pricing, Pareto fronts,
and the Dask driver (a local cluster, and a real `dask scheduler` with two `dask worker` processes)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import cli
from reports.dse import evaluate, results, space, store

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

SMALL = """
name = "small"
networks = ["minilm_128"]
[space]
engine = ["os", "ws"]
rows = [2, 4]
w_bits = [8, 4]
bandwidth = [8, 32]
[area]
synthesise = [2]
[objectives]
pareto = ["energy_uj", "latency_us"]
[constraints]
area_mm2 = "<= 10"
"""


def write(tmp_path: Path, text: str, name: str = "space.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the space file -------------------------------------------------------------------------------

def test_space_points_and_defaults(tmp_path):
    sp = space.load(write(tmp_path, SMALL))
    pts = space.points(sp)
    assert len(pts) == 2 * 2 * 2 * 2  # engine x rows (square) x w_bits x bandwidth
    assert all(p["rows"] == p["cols"] and p["ifmap_kb"] == 64.0 and p["mapping"] == "scalesim" for p in pts)
    assert sp.constraints[0].holds(9.9) and not sp.constraints[0].holds(10.1)
    assert len({evaluate.point_key(p, "m") for p in pts}) == len(pts)
    assert evaluate.point_key(pts[0], "m") != evaluate.point_key(pts[0], "other model")
    # the DRAM energy source and the sizes the area model is fitted on price a point too
    for edit in (('name = "small"', 'name = "small"\ndram_energy = "shiftaddllm"'), ("synthesise = [2]", "synthesise = [2, 4]")):
        other = space.points(space.load(write(tmp_path, SMALL.replace(*edit), "other.toml")))
        assert evaluate.point_key(other[0], "m") != evaluate.point_key(pts[0], "m")


def test_space_drops_what_an_engine_cannot_be(tmp_path):
    # the tree engine has fixed INT8 operands and no dataflow for SCALE-Sim's mapping
    sp = space.load(write(tmp_path, SMALL.replace('engine = ["os", "ws"]', 'engine = ["os", "mat"]')
                          .replace('bandwidth = [8, 32]', 'bandwidth = [8, 32]\nmapping = ["scalesim", "latency"]')))
    pts = space.points(sp)
    assert {p["engine"] for p in pts} == {"os", "mat"}
    assert not any(p["engine"] == "mat" and (p["mapping"] == "scalesim" or p["w_bits"] != 8) for p in pts)
    # mat: 2 sizes x 2 widths x 2 mappings, of which only INT8 weights with the latency mapping stay
    assert sum(sp.dropped.values()) == 2 * 2 * 2 - sum(p["engine"] == "mat" for p in pts) // 2 == 6


@pytest.mark.parametrize("edit,message", [
    (("[space]", "colour = 1\n[space]"), "top level: unknown key 'colour'"),
    (("rows = [2, 4]", "rows = [2, 4]\nrow = [3]"), r"\[space\]: unknown key 'row'"),
    (("rows = [2, 4]", "rows = []"), r"\[space\] rows: is empty"),
    (("rows = [2, 4]", 'rows = ["eight"]'), r"\[space\] rows: must be an integer in 1..256, got 'eight'"),
    (("bandwidth = [8, 32]", "bandwidth = [0]"), r"\[space\] bandwidth: must be a positive number of bytes per cycle"),
    (('engine = ["os", "ws"]', 'engine = ["tpu"]'), r"\[space\] engine: must be a registered engine"),
    (('networks = ["minilm_128"]', 'networks = ["gpt5"]'), "networks: unknown network 'gpt5'"),
    (('networks = ["minilm_128"]', 'networks = ["missing.csv"]'), "topology file .*missing.csv does not exist"),
    (('area_mm2 = "<= 10"', 'area_mm2 = "< 10"'), r'\[constraints\] area_mm2: must read "<= NUMBER"'),
    (('area_mm2 = "<= 10"', 'volume = "<= 10"'), r"\[constraints\]: unknown key 'volume'"),
    (('pareto = ["energy_uj", "latency_us"]', 'pareto = ["energy_uj"]'), "needs two or three objectives"),
    (('synthesise = [2]', 'synthesise = "some"'), r"\[area\] synthesise: must be an array size"),
    (('name = "small"', 'name = ""'), "name: must be a non-empty string"),
    (('rows = [2, 4]', 'rows = [2, 2]'), "repeats a value"),
])
def test_space_errors_name_the_file_and_key(tmp_path, edit, message):
    path = write(tmp_path, SMALL.replace(*edit))
    with pytest.raises(space.SpaceError, match=message) as err:
        space.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_space_family_axis(tmp_path):
    from reports.registry import engines

    sp = space.load(write(tmp_path, SMALL.replace('engine = ["os", "ws"]', 'engine = ["os"]\nfamily = ["systolic"]')))
    systolic = [n for n, e in engines(sized=True).items() if e.family == "systolic"]
    assert sp.axes["engine"] == tuple(dict.fromkeys(["os"] + systolic)) and len(systolic) >= 4
    with pytest.raises(space.SpaceError, match=r"\[space\] family: must be a family with sized engines"):
        space.load(write(tmp_path, SMALL.replace('engine = ["os", "ws"]', 'family = ["gpu"]')))


def test_sweep_refuses_a_database_it_cannot_use_and_keeps_it(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, SMALL)
    db = tmp_path / "r.sqlite"
    store.connect(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    before = db.read_bytes()
    assert cli.main(["sweep", str(path), "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has schema version 0, this bitweight reads version 1" in err
    assert db.read_bytes() == before
    real = os.access
    ro = tmp_path / "ro.sqlite"
    store.connect(ro).close()
    monkeypatch.setattr(store.os, "access", lambda p, mode: False if Path(p) == ro and mode == os.W_OK
                        else real(p, mode))
    before = ro.read_bytes()
    assert cli.main(["sweep", str(path), "--db", str(ro), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is read-only; give a writable --db (nothing was changed)" in err
    assert ro.read_bytes() == before


def test_space_file_not_toml_or_missing(tmp_path):
    with pytest.raises(space.SpaceError, match="not valid TOML"):
        space.load(write(tmp_path, "name = \n"))
    with pytest.raises(space.SpaceError, match="does not exist"):
        space.load(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(space.SpaceError, match="not UTF-8"):
        space.load(bad)
    # no point survives: every engine is dropped
    only_mat = SMALL.replace('engine = ["os", "ws"]', 'engine = ["mat"]')
    with pytest.raises(space.SpaceError, match="holds no design point .*scalesim mapping on an engine without"):
        space.load(write(tmp_path, only_mat))


def test_space_topology_csv_relative_to_the_file(tmp_path):
    (tmp_path / "net.csv").write_text("Layer, M, N, K,\nfc1, 16, 32, 64,\nfc2, 16, 8, 32,\n")
    sp = space.load(write(tmp_path, SMALL.replace('"minilm_128"', '"net.csv"')))
    p = space.points(sp)[0]
    topo = sp.topologies["net.csv"]
    r = evaluate.evaluate(p, 1e4, 300.0, "synth", "horowitz_low", topo)
    assert r["macs"] == 16 * 32 * 64 + 16 * 8 * 32


# -- the database ---------------------------------------------------------------------------------

def test_store_refuses_another_schema_and_leaves_it(tmp_path):
    db = tmp_path / "r.sqlite"
    store.connect(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(store.StoreError, match="schema version 99, this bitweight reads version 1"):
        store.connect(db)
    assert db.read_bytes() == before


def test_store_errors(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(store.StoreError, match="is not an SQLite database"):
        store.connect(junk)
    with pytest.raises(store.StoreError, match="folder .* does not exist"):
        store.connect(tmp_path / "no" / "r.sqlite")
    with pytest.raises(store.StoreError, match="is a folder"):
        store.connect(tmp_path)
    with pytest.raises(store.StoreError, match="does not exist"):
        store.connect(tmp_path / "absent.sqlite", write=False)


def test_store_read_only(tmp_path, monkeypatch):
    db = tmp_path / "r.sqlite"
    store.connect(db).close()
    db.chmod(0o444)
    if os.geteuid() == 0:  # root may write a 0444 file: see it as a user would
        real = os.access
        monkeypatch.setattr(store.os, "access", lambda p, mode: False if Path(p) == db and mode == os.W_OK
                            else real(p, mode))
    with pytest.raises(store.StoreError, match="is read-only"):
        store.connect(db)
    store.connect(db, write=False).close()  # reading still works


# -- pricing --------------------------------------------------------------------------------------

def test_evaluate_matches_the_layers_table():
    """A point's cycles, stalls and DRAM bytes are `bitweight layers`' for the same array and memory."""
    from reports.layers import layer_table
    from sim.memory import Buffer, Dram, MemoryConfig
    from sim.networks import network
    from sim.topology import ArchConfig

    p = {"engine": "ws", "rows": 8, "cols": 4, "a_bits": 8, "w_bits": 8, "ifmap_kb": 32.0, "filter_kb": 16.0,
         "ofmap_kb": 64.0, "bandwidth": 8.0, "dram_latency": 50, "network": "minilm_128", "mapping": "scalesim"}
    r = evaluate.evaluate(p, 2e5, 400.0, "synth", "horowitz_low")
    mem = MemoryConfig(Buffer(32 * 1024), Buffer(16 * 1024), Buffer(64 * 1024), Dram(8.0, 50))
    df = layer_table(network("minilm_128"), ArchConfig(8, 4, "ws"), memory=mem, mapping="scalesim")
    total = df.iloc[-1]
    assert r["cycles"] == total["Total Cycles"] and r["stall_cycles"] == total["Stall Cycles"]
    dram = sum(total[c] for c in ("DRAM IFMAP Read Bytes", "DRAM Filter Read Bytes", "DRAM OFMAP Read Bytes",
                                  "DRAM OFMAP Write Bytes"))
    assert r["dram_bytes"] == dram and r["macs"] == total["macs"]
    assert r["energy_uj"] == pytest.approx(r["energy_array_uj"] + r["energy_buffers_uj"] + r["energy_dram_uj"])
    assert r["latency_us"] == pytest.approx(r["cycles"] / 400.0)
    assert r["power_w"] == pytest.approx(r["energy_uj"] / r["latency_us"])
    assert r["gops_per_w"] == pytest.approx(2 * r["macs"] / (r["energy_uj"] * 1e-6) / 1e9)
    assert r["area_mm2"] > 0.2  # the array's 0.2 mm^2 plus 112 kB of SRAM


def test_evaluate_narrow_weights_move_fewer_bytes():
    base = {"engine": "os", "rows": 8, "cols": 8, "a_bits": 8, "ifmap_kb": 64.0, "filter_kb": 64.0, "ofmap_kb": 64.0,
            "bandwidth": 4.0, "dram_latency": 100, "network": "llama7b_decode", "mapping": "scalesim"}
    w8, w4 = (evaluate.evaluate({**base, "w_bits": w}, 1e5, 400.0, "synth", "horowitz_low") for w in (8, 4))
    assert w4["dram_bytes"] < 0.6 * w8["dram_bytes"] and w4["energy_dram_uj"] < w8["energy_dram_uj"]
    assert w8["memory_bound_layers"] == 7  # a decode step is memory-bound at 4 bytes per cycle


def test_a_buffer_smaller_than_a_tile_is_stored_as_an_error():
    p = {"engine": "os", "rows": 16, "cols": 16, "a_bits": 8, "w_bits": 8, "ifmap_kb": 64.0, "filter_kb": 64.0,
         "ofmap_kb": 1.0, "bandwidth": 8.0, "dram_latency": 0, "network": "minilm_128", "mapping": "scalesim"}
    r = evaluate.evaluate(p, 1e5, 400.0, "synth", "horowitz_low")
    assert r["error"].startswith("layer minilm_q: ofmap buffer of 1024 bytes is smaller than one tile")


def test_worker_with_another_model_is_refused():
    with pytest.raises(RuntimeError, match="differs from the driver's"):
        evaluate.evaluate_chunk([], {}, "horowitz_low", {}, "0000")


# -- Pareto ---------------------------------------------------------------------------------------

def brute_force_front(v: np.ndarray, maximise) -> np.ndarray:
    v = np.where(np.asarray(maximise), -v, v)
    return np.array([not any((o <= p).all() and (o < p).any() for o in v) for p in v], dtype=bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=40),
       st.lists(st.booleans(), min_size=3, max_size=3), st.sampled_from([2, 3]))
def test_pareto_mask_equals_brute_force(rows, maximise, dims):
    v = np.array(rows, dtype=float)[:, :dims]
    np.testing.assert_array_equal(results.pareto_mask(v, maximise[:dims]), brute_force_front(v, maximise[:dims]))


def test_pareto_by_hand():
    x = [1, 2, 3, 2, 0.5]
    y = [3, 2, 1, 1, 0.5]
    assert results.pareto_front(x, y).tolist() == [True, True, True, False, False]
    assert results.pareto_front([1, 1], [1, 1]).tolist() == [True, True]  # equal points do not dominate
    with pytest.raises(ValueError, match="1-D of one length"):
        results.pareto_front([1, 2], [1])


def test_area_model_fit_and_leave_one_out():
    from reports.dse import areamodel

    samples = [(s * s, s, s, 100 + 50 * s * s + 7 * 2 * s) for s in (2, 4, 8, 16)]
    f = areamodel.fit("area", samples)
    assert f.terms == 3 and f.predict(32 * 32, 32, 32) == pytest.approx(100 + 50 * 1024 + 7 * 64)
    loo = areamodel.leave_one_out("area", samples)
    assert [e["rows"] for e in loo] == [2, 4, 8, 16] and max(abs(e["rel_error"]) for e in loo) < 1e-9
    assert areamodel.leave_one_out("area", samples[:1]) == []
    assert areamodel.fit("clock", [(4, 2, 2, 300.0)]).predict(64, 8, 8) == pytest.approx(300.0)
    # the period grows 100 ps per doubling of units (an adder tree): extrapolated on both sides
    tree = [(u, 0, 0, 1e6 / (2000 + 100 * np.log2(u))) for u in (4, 16, 64)]
    f = areamodel.fit("clock", tree)
    assert f.predict(1024, 0, 0) == pytest.approx(1e6 / 3000) and f.predict(32, 0, 0) == pytest.approx(1e6 / 2500)
    # a period that shrinks with size is held at the largest synthesised size's, not extrapolated
    # to an ever faster clock; below the smallest it grows as fitted
    shrink = [(4, 2, 2, 300.0), (16, 4, 4, 400.0)]
    assert areamodel.fit("clock", shrink).predict(1024, 32, 32) == pytest.approx(400.0)
    assert areamodel.fit("clock", shrink).predict(1, 1, 1) < 300.0


# -- the driver, on Dask --------------------------------------------------------------------------

def test_sweep_on_the_local_cluster_then_resumes_with_nothing_to_do(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    db = tmp_path / "r.sqlite"
    assert cli.main(["sweep", str(path), "--db", str(db), "--workers", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "16 design points, 0 already stored, 16 to price" in out and "on a local Dask cluster with 2 workers" in out
    assert "synthesised 2x2: one size, no error estimate" in out
    df = results.load(db)
    assert len(df) == 16 and df.error.isna().all() and df.pareto.any() and df.feasible.all()
    assert set(df.area_source) == {"synth", "fit"}
    # the 2x2 points are priced with the synthesised area, the 4x4 with the fitted one
    con = store.connect(db, write=False)
    synth = {json.loads(r["params_json"])["R"] for r in con.execute("SELECT * FROM synth")}
    con.close()
    assert synth == {2}
    assert cli.main(["sweep", str(path), "--db", str(db), "--no-progress"]) == 0
    assert "16 already stored, 0 to price" in capsys.readouterr().out
    # results: a constraint, another front, CSV and plot
    csv, png = tmp_path / "front.csv", tmp_path / "front.png"
    assert cli.main(["results", "--db", str(db), "--where", "area_mm2<=0.8", "--pareto", "area_mm2,gops_per_w,latency_us",
                     "--front", "--csv", str(csv), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "area_mm2 <= 10; area_mm2 <= 0.8" in out and "Pareto front of area_mm2, gops_per_w, latency_us" in out
    assert csv.read_text().count("\n") >= 2 and png.stat().st_size > 10_000
    assert cli.main(["results", "--db", str(db), "--list"]) == 0
    assert "small" in capsys.readouterr().out


def test_sweep_cli_errors(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    db = tmp_path / "r.sqlite"
    assert cli.main(["sweep", str(path), "--db", str(db), "--scheduler", "tcp://127.0.0.1:9", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bitweight sweep: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9") \
        and "\n" not in err
    assert cli.main(["sweep", str(tmp_path / "nope.toml"), "--db", str(db)]) == 2
    assert "space file" in capsys.readouterr().err
    assert cli.main(["results", "--db", str(tmp_path / "absent.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["results", "--db", str(db), "--sweep", "other"]) == 2
    assert "no sweep 'other' priced by this cost model" in capsys.readouterr().err
    assert cli.main(["results", "--db", str(db), "--where", "area < 3"]) == 2
    assert 'must read "OBJECTIVE <= NUMBER"' in capsys.readouterr().err
    assert cli.main(["results", "--db", str(db), "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _kill_space(tmp_path: Path) -> Path:
    # 2 engines x 5 sizes x 2 widths x 4 x 4 x 2 buffers x 8 bandwidths = 5,120 points
    return write(tmp_path, """
name = "resume"
networks = ["minilm_128"]
[space]
engine = ["os", "ws"]
rows = [2, 4, 6, 8, 12]
w_bits = [8, 4]
ifmap_kb = [8, 16, 32, 64]
filter_kb = [8, 16, 32, 64]
ofmap_kb = [32, 64]
bandwidth = [2, 4, 6, 8, 12, 16, 24, 32]
[area]
synthesise = [2]
""", "resume.toml")


def _table(db: Path):
    return results.load(db).drop(columns=["created", "sweep"]).sort_values("point_key").reset_index(drop=True)


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_recomputing(tmp_path):
    """SIGKILL half-way through 5,120 points; the resumed table equals an uninterrupted run's, and
    the resumed run prices exactly the points that were not stored."""
    path = _kill_space(tmp_path)
    killed, whole = tmp_path / "killed.sqlite", tmp_path / "whole.sqlite"
    cmd = [str(BIN / "bitweight"), "sweep", str(path), "--workers", "2", "--chunk", "40", "--no-progress"]
    proc = subprocess.Popen(cmd + ["--db", str(killed)], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    stored, deadline = 0, time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            con = sqlite3.connect(f"file:{killed}?mode=ro", uri=True)
            stored = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            con.close()
        except sqlite3.Error:
            continue
        if stored >= 1500:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(killed)
    at_kill = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    con.close()
    assert 0 < at_kill < 5120, f"the sweep was not killed half-way ({at_kill} of 5120 stored)"
    resumed = subprocess.run(cmd + ["--db", str(killed)], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{at_kill} already stored, {5120 - at_kill} to price" in resumed.stdout
    assert f"{at_kill} points were stored, {5120 - at_kill} priced now" in resumed.stdout
    done = subprocess.run(cmd + ["--db", str(whole)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = _table(killed), _table(whole)
    assert len(a) == 5120
    assert a.equals(b)
    print(f"\nkilled with {at_kill} of 5120 points stored; the resumed run priced {5120 - at_kill}; the table "
          "equals an uninterrupted run's")


@pytest.mark.slow
def test_sweep_on_a_real_dask_scheduler_and_two_workers(tmp_path):
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                               "--dashboard-address", ":0", "--no-show"], start_new_session=True, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "dask scheduler did not start"
        time.sleep(0.5)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                           "--name", f"w{i}", "--no-dashboard"], start_new_session=True, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=60)
        db = tmp_path / "r.sqlite"
        out = subprocess.run([str(BIN / "bitweight"), "sweep", str(write(tmp_path, SMALL)), "--db", str(db),
                              "--scheduler", address, "--no-progress"], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"on Dask scheduler {address} with 2 workers" in out.stdout
        df = results.load(db)
        assert len(df) == 16 and df.error.isna().all()
        # the same numbers as the local cluster's
        local = tmp_path / "local.sqlite"
        assert cli.main(["sweep", str(write(tmp_path, SMALL)), "--db", str(local), "--no-progress"]) == 0
        assert _table(db).equals(_table(local))
    finally:
        for p in procs[::-1]:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            p.wait(timeout=30)


def test_sweep_grid_covers_every_combination(tmp_path):
    sp = space.load(write(tmp_path, SMALL.replace("rows = [2, 4]", "rows = [2, 4]\ncols = [3, 5]")))
    pts = space.points(sp)
    got = {(p["engine"], p["rows"], p["cols"], p["w_bits"], p["bandwidth"]) for p in pts}
    assert got == set(itertools.product(["os", "ws"], [2, 4], [3, 5], [8, 4], [8.0, 32.0]))


def test_store_refuses_a_table_without_the_schema_columns(tmp_path):
    db = tmp_path / "r.sqlite"
    store.connect(db).close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE points DROP COLUMN dram_energy")
    con.commit()
    con.close()
    with pytest.raises(store.StoreError, match="its points table lacks dram_energy"):
        store.connect(db)
