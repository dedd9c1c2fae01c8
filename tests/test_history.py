"""Benchmark history (reports/dse/history.py): recording pytest-benchmark runs, comparing them, `bitweight history`."""

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from reports.dse import history, store
from reports.dse.history import NoEarlierRunError, compare, record_pytest_benchmark, runs
from reports.dse.store import StoreError

ROOT = Path(__file__).resolve().parents[1]

BENCH_FILE = '''
def test_sum(benchmark):
    benchmark.extra_info["macs_per_s"] = 123.0
    benchmark(sum, range(100))
'''


@pytest.fixture(scope="module")
def real_session(tmp_path_factory):
    """A real `pytest --benchmark` session, with the root conftest, in a folder of its own: its folder
    and the JSON pytest-benchmark wrote."""
    work = tmp_path_factory.mktemp("session")
    shutil.copy(ROOT / "conftest.py", work / "conftest.py")
    (work / "test_tiny.py").write_text(BENCH_FILE)
    # not the outer run's settings: under pytest-xdist its PYTEST_* variables make the inner session a worker
    env = {k: v for k, v in os.environ.items()
           if k not in (store.ENV_DB, history.ENV_HISTORY) and not k.startswith(("PYTEST_", "XDIST"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark", "--benchmark-json=out.json",
         "--benchmark-min-rounds=3", "--benchmark-max-time=0.001", "--benchmark-warmup=off", "test_tiny.py"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not recorded" not in r.stderr
    return work, work / "out.json"


def run_json(base: dict, when: str, means: dict, gpu: str | None = None) -> dict:
    """A pytest-benchmark output like ``base`` started at ``when``, one benchmark per ``means`` item."""
    data = copy.deepcopy(base)
    template = data["benchmarks"][0]
    data["benchmarks"] = []
    for name, mean in means.items():
        b = copy.deepcopy(template)
        b["name"], b["fullname"] = name, f"bench/test_x.py::{name}"
        b["stats"].update(mean=mean, min=0.9 * mean)
        if gpu:
            b["extra_info"] = {"gpu": gpu, "versions": {"torch": "2.9.0", "triton": "3.5.0"}, "tops": 1.0}
        data["benchmarks"].append(b)
    data["datetime"] = when
    return data


@pytest.fixture(scope="module")
def base(real_session):
    return json.loads(real_session[1].read_text())


def history_parser():
    parser = argparse.ArgumentParser(prog="bitweight")
    history.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def cli(argv):
    args = history_parser().parse_args(["history", *argv])
    return args.func(args)


# ---------------------------------------------------------------------------------------- recording
def test_real_session_is_recorded_once(real_session):
    work, out_json = real_session
    db = work / store.DEFAULT_DB  # at the session's root: no $BITWEIGHT_DB
    df = runs(db)
    # pytest-benchmark calls its JSON hook twice (--benchmark-json and the autosave): one run
    assert len(df) == 1 and list(df.kind) == ["pytest-benchmark"] and df["items"].tolist() == [1]
    assert df.source[0].startswith("pytest ") and "--benchmark" in df.source[0]
    con = store.connect(db, write=False)
    run = con.execute("SELECT * FROM bench_runs").fetchone()
    item = con.execute("SELECT * FROM bench_items").fetchone()
    con.close()
    info = json.loads(out_json.read_text())
    assert run["machine"] == history.machine_id(info["machine_info"])
    assert run["commit_id"] == info["commit_info"]["id"]
    versions = json.loads(run["versions_json"])
    assert versions["python"] == info["machine_info"]["python_version"]
    assert versions["pytest-benchmark"] == info["version"]
    assert "flags" not in json.loads(run["machine_json"])["cpu"]
    assert item["name"] == "test_sum" and item["rounds"] >= 3 and 0 < item["min_s"] <= item["mean_s"]
    assert json.loads(item["extra_json"]) == {"macs_per_s": 123.0}
    # the --benchmark-json file is the output the session recorded: recording it again finds that run
    assert record_pytest_benchmark(out_json, db) == run["run_id"] and len(runs(db)) == 1


def test_machine_names_the_gpu_and_versions_come_from_extra_info(tmp_path, base):
    db = tmp_path / "h.sqlite"
    dirty = run_json(base, "2026-01-01T10:00:00+02:00", {"a": 1.0}, gpu="NVIDIA H100 80GB HBM3")
    dirty["commit_info"] = {"id": "abc123", "dirty": True}
    run_id = record_pytest_benchmark(dirty, db, kind="gpu-check", source="test",
                                     versions={"cupy": "13.0"})
    con = store.connect(db, write=False)
    run = dict(con.execute("SELECT * FROM bench_runs WHERE run_id = ?", (run_id,)).fetchone())
    con.close()
    assert run["machine"].startswith("NVIDIA H100 80GB HBM3 / ") and run["kind"] == "gpu-check"
    assert run["commit_id"] == "abc123-dirty" and run["source"] == "test"
    assert run["started"] == "2026-01-01T08:00:00.000000+00:00"  # UTC, so runs sort by text
    assert json.loads(run["versions_json"]) == {"python": base["machine_info"]["python_version"],
                                                     "pytest-benchmark": base["version"], "torch": "2.9.0",
                                                     "triton": "3.5.0", "cupy": "13.0"}


# ---------------------------------------------------------------------------------------- comparing
def test_compare_flags_a_planted_slowdown(tmp_path, base):
    db = tmp_path / "h.sqlite"
    record_pytest_benchmark(run_json(base, "2026-01-01T00:00:00+00:00",
                                     {"slow": 1e-3, "steady": 1e-3, "quick": 1e-3, "gone": 1e-3}), db)
    # recorded out of order: runs are ordered by when they started
    last = record_pytest_benchmark(run_json(base, "2026-01-03T00:00:00+00:00",
                                            {"slow": 2e-3, "steady": 1.02e-3, "quick": 0.5e-3, "new": 1e-3}), db)
    middle = record_pytest_benchmark(run_json(base, "2026-01-02T00:00:00+00:00",
                                              {"slow": 1e-3, "steady": 1e-3, "quick": 1e-3, "gone": 1e-3}), db)
    df = compare(db)
    assert df.attrs["after"]["run_id"] == last and df.attrs["before"]["run_id"] == middle
    assert df.attrs["threshold"] == 0.10
    by = df.set_index("name")
    assert by.status.to_dict() == {"slow": "regression", "steady": "ok", "quick": "faster", "new": "new",
                                   "gone": "gone"}
    assert by.regression.to_dict() == {"slow": True, "steady": False, "quick": False, "new": False, "gone": False}
    assert by.ratio["slow"] == pytest.approx(2.0) and by.ratio["steady"] == pytest.approx(1.02)
    assert by.before_s["slow"] == 1e-3 and by.after_s["slow"] == 2e-3
    # a looser threshold lets a 2x slowdown through
    assert not compare(db, threshold=1.5).regression.any()
    assert compare(db, run_id=middle).attrs["before"]["started"].startswith("2026-01-01")


def test_compare_errors_name_what_is_missing(tmp_path, base):
    db = tmp_path / "h.sqlite"
    with pytest.raises(StoreError, match=r"h\.sqlite does not exist: record a run first"):
        compare(db)
    store.connect(db).close()
    with pytest.raises(ValueError, match=r"^no benchmark run recorded in .*h\.sqlite$"):
        compare(db)
    first = record_pytest_benchmark(run_json(base, "2026-01-01T00:00:00+00:00", {"a": 1.0}, gpu="GPU A"), db)
    # a later run on another machine (another GPU) is not compared with it
    other = record_pytest_benchmark(run_json(base, "2026-01-02T00:00:00+00:00", {"a": 1.0}, gpu="GPU B"), db)
    with pytest.raises(NoEarlierRunError, match=rf"^no pytest-benchmark run on machine 'GPU B / .*' before run {other} "
                                                r"to compare with$"):
        compare(db)
    with pytest.raises(NoEarlierRunError, match=f"before run {first} "):
        compare(db, first)
    with pytest.raises(ValueError, match=r"^no benchmark run 99 in .*h\.sqlite \(`bitweight history --list`\)$"):
        compare(db, 99)
    for bad in (0, -0.1, float("nan"), "x"):
        with pytest.raises(ValueError, match="threshold must be a number > 0"):
            compare(db, threshold=bad)


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{not json", "is not JSON"),
    ('{"machine_info": {}, "datetime": "2026-01-01T00:00:00"}',
     r"is not a pytest-benchmark JSON file \(no benchmarks\)"),
    ("[1, 2]", r"is not a pytest-benchmark JSON file \(top level is not an object\)"),
    ('{"machine_info": {}, "datetime": "x", "benchmarks": [{"name": "a"}]}', r"\(benchmark 0 has no name or stats\)"),
])
def test_record_refuses_what_is_not_a_benchmark_file(tmp_path, content, message):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises((ValueError, FileNotFoundError), match=rf"^{path}(:| ).*{message}"):
        record_pytest_benchmark(path, tmp_path / "h.sqlite")
    assert not (tmp_path / "h.sqlite").exists()  # nothing was created for a bad file


# ---------------------------------------------------------------------------------------- the database
def test_other_schema_version_is_refused_and_left_unchanged(tmp_path, base, capsys):
    db = tmp_path / "h.sqlite"
    con = store.connect(db)
    with con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"h\.sqlite has schema version 99, this bitweight reads version 1"):
        record_pytest_benchmark(run_json(base, "2026-01-01T00:00:00", {"a": 1.0}), db)
    assert cli(["--db", str(db), "--list"]) == 2
    assert "schema version 99" in capsys.readouterr().err
    assert db.read_bytes() == before


def test_read_only_database_is_refused_for_writing_and_still_read(tmp_path, base, monkeypatch, capsys):
    db = tmp_path / "h.sqlite"
    record_pytest_benchmark(run_json(base, "2026-01-01T00:00:00", {"a": 1.0}), db)
    record_pytest_benchmark(run_json(base, "2026-01-02T00:00:00", {"a": 1.0}), db)
    db.chmod(0o444)
    if os.access(db, os.W_OK):  # root may write anyway: let the store see what a user would
        real = os.access
        monkeypatch.setattr(store.os, "access", lambda p, mode: real(p, mode) and not (
            Path(p) == db and mode == os.W_OK))
    with pytest.raises(StoreError, match=r"h\.sqlite is read-only; give a writable --db \(nothing was changed\)"):
        record_pytest_benchmark(run_json(base, "2026-01-03T00:00:00", {"a": 1.0}), db)
    assert len(compare(db)) == 1
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps(run_json(base, "2026-01-03T00:00:00", {"a": 1.0})))
    assert cli(["--db", str(db), "--record", str(json_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bitweight history: error: results database ")
    assert "is read-only" in err


def test_session_hook_never_fails_the_run(tmp_path, base, monkeypatch, capsys):
    def session():  # what the hook reads of a pytest config
        return SimpleNamespace(getoption=lambda name, default=None: True, rootpath=tmp_path,
                               invocation_params=SimpleNamespace(args=("--benchmark",)))

    monkeypatch.setenv(store.ENV_DB, str(tmp_path))  # a folder: not a database
    config = session()
    assert history.pytest_record_hook(config, run_json(base, "2026-01-01T00:00:00", {"a": 1.0})) is None
    err = capsys.readouterr().err.strip()
    assert err.startswith("bitweight: warning: benchmark run not recorded in the history: results database ")
    assert "is a folder" in err and "\n" not in err
    assert history.pytest_record_hook(config, run_json(base, "2026-01-01T00:00:00", {"a": 1.0})) is None
    assert capsys.readouterr().err == ""  # warned once
    # once per session, and BITWEIGHT_HISTORY=0 turns it off
    monkeypatch.setenv(store.ENV_DB, str(tmp_path / "h.sqlite"))
    config = session()
    assert history.pytest_record_hook(config, run_json(base, "2026-01-01T00:00:00", {"a": 1.0})) == 1
    assert history.pytest_record_hook(config, run_json(base, "2026-01-01T00:00:01", {"a": 1.0})) == 1
    monkeypatch.setenv(history.ENV_HISTORY, "0")
    assert history.pytest_record_hook(session(), run_json(base, "2026-01-02T00:00:00", {"a": 1.0})) is None
    assert len(runs(tmp_path / "h.sqlite")) == 1


def test_gpu_check_records_its_benchmarks(tmp_path, base, monkeypatch):
    from bench.gpu_check import _record_history

    path = tmp_path / "bench.json"
    path.write_text(json.dumps(run_json(base, "2026-01-01T00:00:00", {"a": 1.0}, gpu="NVIDIA H100")))
    monkeypatch.setenv(store.ENV_DB, str(tmp_path / "h.sqlite"))
    line = _record_history(path, {"python": "3.11", "torch": "2.9.0", "cupy": "unavailable (ImportError)"})
    assert line.startswith("history: recorded as gpu-check run 1 in ")
    assert runs(tmp_path / "h.sqlite").kind.tolist() == ["gpu-check"]
    monkeypatch.setenv(store.ENV_DB, str(tmp_path))
    line = _record_history(path, {})
    assert line.startswith("history: benchmarks not recorded (StoreError: results database ") and "\n" not in line


# ---------------------------------------------------------------------------------------- the command
def test_history_command(tmp_path, base, capsys):
    db = tmp_path / "h.sqlite"
    files = []
    for day, means in ((1, {"slow": 1e-3, "steady": 1e-3}), (2, {"slow": 1e-3, "steady": 1e-3}),
                       (3, {"slow": 2e-3, "steady": 1.02e-3})):
        files.append(tmp_path / f"run{day}.json")
        files[-1].write_text(json.dumps(run_json(base, f"2026-01-0{day}T00:00:00+00:00", means)))

    assert cli(["--db", str(db), "--record", str(files[0])]) == 0  # a first run: nothing to compare yet
    out = capsys.readouterr().out
    assert f"recorded {files[0]} as run 1" in out and "nothing to compare: no pytest-benchmark run" in out

    assert cli(["--db", str(db), "--record", str(files[1])]) == 0
    out = capsys.readouterr().out
    assert "run 2 (2026-01-02 00:00:00 UTC, commit unversioned) vs run 1" in out
    assert "regression = slower by more than 10% (--threshold 0.1)" in out and "2 benchmarks: 2 ok" in out

    csv = tmp_path / "cmp.csv"
    assert cli(["--db", str(db), "--record", str(files[2]), "--csv", str(csv)]) == 1  # a regression: exit 1
    out = capsys.readouterr().out
    assert "REGRESSION: slow" in out and "2.000x" in out and "1.020x" in out
    assert "1 regression, 1 ok" in out
    assert csv.read_text().splitlines()[0] == "name,group,before_s,after_s,ratio,status,regression"
    assert cli(["--db", str(db), "--threshold", "1.5"]) == 0
    assert cli(["--db", str(db), "--run", "2"]) == 0
    capsys.readouterr()

    assert cli(["--db", str(db), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["run_id", "kind", "machine", "commit_id", "started", "items", "source"]
    assert len(out.splitlines()) == 4


@pytest.mark.parametrize("argv,message", [
    (["--run", "9"], "no benchmark run 9 in "),
    (["--run", "1"], "no pytest-benchmark run on machine "),
    (["--record", "missing.json"], "missing.json: no such file"),
    (["--record", "bad.json"], r"bad.json is not a pytest-benchmark JSON file (no machine_info, benchmarks, datetime)"),
    (["--csv", "nowhere/out.csv"], "--csv nowhere/out.csv: folder "),
])
def test_history_command_errors_are_one_line(tmp_path, base, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "h.sqlite"
    record_pytest_benchmark(run_json(base, "2026-01-01T00:00:00", {"a": 1.0}), db)
    (tmp_path / "bad.json").write_text('{"version": "5.1.0"}')
    assert cli(["--db", str(db), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bitweight history: error: ") and message in err and err.count("\n") == 1
    assert len(runs(db)) == 1  # bad input records nothing


def test_bad_threshold_is_refused(tmp_path, capsys):
    for bad in ("0", "-1", "nan", "ten"):
        with pytest.raises(SystemExit) as exc:
            history_parser().parse_args(["history", "--threshold", bad])
        assert exc.value.code == 2
        assert "argument --threshold: threshold must be a number > 0" in capsys.readouterr().err
    # cmd_history checks it too, before touching anything
    args = argparse.Namespace(db=str(tmp_path / "h.sqlite"), threshold=0.0, record=None, list=False, run=None, csv=None)
    assert history.cmd_history(args) == 2
    assert "threshold must be a number > 0 (0.10 = 10 % slower), got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "h.sqlite").exists()
