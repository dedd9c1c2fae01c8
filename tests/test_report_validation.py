"""`bitweight report` checks every place it writes before the first section runs (each a one-line
error naming the path, in well under a second), and removes the scratch folders of killed runs."""

import os
import time

import pytest

from reports import build
from reports.cli import main


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "regular-file"
    f.write_text("not a folder")
    return f


def run(capsys, *argv):
    t = time.perf_counter()
    rc = main(["report", "--quick", *argv])
    err = capsys.readouterr().err
    assert time.perf_counter() - t < 5, "the check must come before any work"
    return rc, err


def test_output_under_a_file(capsys, a_file):
    rc, err = run(capsys, "--out", str(a_file / "out"))
    assert rc == 2 and err.count("\n") == 1 and f"{a_file} is a file, so the folder cannot be made" in err


def test_output_is_a_file(capsys, a_file):
    rc, err = run(capsys, "--out", str(a_file))
    assert rc == 2 and f"--out {a_file} is a file; give a folder" in err


def test_output_holds_other_files(capsys, tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("...")
    rc, err = run(capsys, "--out", str(tmp_path / "thesis"))
    assert rc == 2 and "holds other files and is not a bitweight report folder" in err
    assert (tmp_path / "thesis" / "chapter1.tex").exists()


def test_output_not_writable(capsys, tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real(p, mode))
    rc, err = run(capsys, "--out", str(tmp_path / "out"))
    assert rc == 2 and f"{tmp_path} is not writable" in err


def test_cache_not_writable(capsys, tmp_path, monkeypatch, a_file):
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(a_file / "cache"))
    rc, err = run(capsys, "--out", str(tmp_path / "out"))
    assert rc == 2 and err.count("\n") == 1 and str(a_file) in err and "BITWEIGHT_CACHE_DIR" in err


def test_results_database_of_another_kind(capsys, tmp_path, monkeypatch):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 50)
    monkeypatch.setenv("BITWEIGHT_DB", str(junk))
    rc, err = run(capsys, "--out", str(tmp_path / "out"))
    assert rc == 2 and err.count("\n") == 1 and f"results database {junk} is not an SQLite database" in err


def test_arrays_too_large_for_the_report(capsys, tmp_path):
    rc, err = run(capsys, "--out", str(tmp_path / "out"), "--rows", "64")
    assert rc == 2 and "at most 32x32" in err


def test_stale_scratch_folders_are_removed(tmp_path):
    out = tmp_path / "report"
    dead = tmp_path / ".report.partial-999999999-abc"  # no such process
    legacy = tmp_path / ".report.partial-k2j3h4"  # older bitweight: no PID in the name
    mine = tmp_path / f".report.partial-{os.getpid()}-xyz"  # a live process: left alone
    other = tmp_path / ".notes.partial-999999999-abc"  # another folder's
    for d in (dead, legacy, mine, other):
        d.mkdir()
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    gone = build.remove_stale(out)
    assert sorted(gone) == sorted([dead, legacy]) and mine.exists() and other.exists()
    fresh = tmp_path / ".report.partial-abcdef"
    fresh.mkdir()
    assert build.remove_stale(out) == [] and fresh.exists()  # a recent legacy folder may be a running build
