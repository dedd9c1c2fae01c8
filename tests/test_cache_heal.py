"""A cache that heals: every damaged synthesis cache entry (reports/synth.py) is recomputed with one
warning naming its file and replaced; an entry from before the integrity check is upgraded in place
without yosys; a cache folder that cannot be written costs the caching, never the result.

Each test has its own cache folder (tmp_path), seeded with a copy of one good entry of a tiny MAC
(mac_pe, A_W=B_W=2, ACC_W=8: about a second of yosys), so the real ~/.cache is never touched.
"""

import dataclasses
import json
import os
import shutil
import warnings

import pytest

from reports import synth
from rtl_models.synth import verilog_sources

PARAMS = {"A_W": 2, "B_W": 2, "ACC_W": 8}


def files():
    return verilog_sources("mac_pe")


def synthesize():
    return synth.synthesize(files(), "mac_pe", PARAMS, progress=None)


def netlist():
    return synth.gate_netlist(files(), "mac_pe", PARAMS, progress=None)


def same(r):
    """A result without its run time, which a rerun of yosys changes."""
    return dataclasses.replace(r, synth_runtime_s=0.0)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One good entry (its two files' bytes), its result and its netlist."""
    folder = tmp_path_factory.mktemp("pristine_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BITWEIGHT_CACHE_DIR", str(folder))
        result, module = synthesize(), netlist()
        entry = synth.cache_dir() / f"{synth._cache_key(files(), 'mac_pe', PARAMS)}.json"
        counts_raw, netlist_raw = entry.read_bytes(), synth._netlist_file(entry).read_bytes()
    return {"result": result, "netlist": module, "name": entry.name, "counts_raw": counts_raw,
            "netlist_raw": netlist_raw}


@pytest.fixture
def entry(pristine, tmp_path, monkeypatch):
    """This test's cache folder holding a copy of the good entry: (counts file, netlist file)."""
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(tmp_path / "cache"))
    counts = synth.cache_dir() / pristine["name"]
    counts.parent.mkdir(parents=True)
    counts.write_bytes(pristine["counts_raw"])
    net = synth._netlist_file(counts)
    net.write_bytes(pristine["netlist_raw"])
    return counts, net


def no_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def one_warning(call, path, what):
    with pytest.warns(synth.CacheWarning) as record:
        out = call()
    messages = [str(w.message) for w in record]
    assert len(messages) == 1, messages
    assert str(path) in messages[0] and what in messages[0], messages[0]
    assert "\n" not in messages[0]
    return out


def test_a_good_entry_is_read_without_warning_or_yosys(entry, pristine, monkeypatch):
    monkeypatch.setattr(synth, "run_synthesis", lambda *a, **k: pytest.fail("yosys ran for a good entry"))
    r = no_warning(synthesize)
    assert r.cached and r == pristine["result"]
    assert no_warning(netlist) == pristine["netlist"]
    check = json.loads(entry[0].read_text())["check"]
    assert check["schema"] == synth.SCHEMA and check["netlist"]["bytes"] == len(pristine["netlist_raw"])


def tamper_number(counts_file):
    d = json.loads(counts_file.read_text())
    d["cells"] = {k: n + 1 for k, n in d["cells"].items()}  # same shape, wrong numbers, check kept
    counts_file.write_text(json.dumps(d, sort_keys=True))


def set_field(name, value):
    def damage(counts_file):
        d = json.loads(counts_file.read_text())
        d[name] = value
        counts_file.write_text(json.dumps(d))
    return damage


DAMAGES = {  # name: (which file, damage, what the warning says)
    "non-utf8 bytes": (0, lambda p: p.write_bytes(b"\xff\xfe" + p.read_bytes()[2:]), "not UTF-8"),
    "truncated json": (0, lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not valid JSON"),
    "empty file": (0, lambda p: p.write_bytes(b""), "not valid JSON"),
    "json list": (0, lambda p: p.write_text("[1, 2, 3]"), "wrong shape"),
    "field missing": (0, lambda p: p.write_text(json.dumps({"cells": {"$_AND_": 3}})), "wrong shape: no "),
    "field of wrong type": (0, set_field("logic_depth", "deep"), "wrong shape: 'logic_depth'"),
    "zero flop overhead": (0, set_field("flop_overhead_ps", 0), "wrong shape: 'flop_overhead_ps'"),
    "check of wrong shape": (0, set_field("check", {"sha256": 5}), "wrong shape: 'check'"),
    "unknown schema": (0, lambda p: p.write_text(p.read_text().replace('"schema": 2', '"schema": 99')), "schema 99"),
    "tampered number": (0, tamper_number, "checksum mismatch"),
    "truncated netlist": (1, lambda p: p.write_bytes(p.read_bytes()[:-100]), "truncated"),
    "missing netlist": (1, lambda p: p.unlink(), "netlist missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_entry_is_recomputed_with_one_warning_and_healed(entry, pristine, damage):
    which, spoil, what = DAMAGES[damage]
    spoil(entry[which])
    r = one_warning(synthesize, entry[which], what)
    assert not r.cached and same(r) == same(pristine["result"])
    again = no_warning(synthesize)  # healed on disk
    assert again.cached and same(again) == same(pristine["result"])
    assert no_warning(netlist) == pristine["netlist"]
    assert json.loads(entry[0].read_text())["check"]["schema"] == synth.SCHEMA


def test_a_changed_netlist_of_the_right_size_is_caught_by_gate_netlist(entry, pristine):
    raw = entry[1].read_bytes()
    i = raw.index(b'"bits": [') + len(b'"bits": [')
    entry[1].write_bytes(raw[:i] + (b"7" if raw[i:i + 1] != b"7" else b"8") + raw[i + 1:])
    assert no_warning(synthesize).cached  # the counts are whole: synthesize checks the netlist's size only
    got = one_warning(netlist, entry[1], "checksum mismatch")
    assert got == pristine["netlist"]
    assert no_warning(netlist) == pristine["netlist"]
    assert entry[1].read_bytes() == pristine["netlist_raw"]


@pytest.mark.parametrize("damage", ["truncated netlist", "missing netlist", "tampered number"])
def test_gate_netlist_heals_too(entry, pristine, damage):
    which, spoil, what = DAMAGES[damage]
    spoil(entry[which])
    assert one_warning(netlist, entry[which], what) == pristine["netlist"]
    assert no_warning(synthesize).cached
    assert no_warning(netlist) == pristine["netlist"]


def old_format(counts_file):
    """The entry as bitweight wrote it before the check: the bare counts."""
    d = json.loads(counts_file.read_text())
    del d["check"]
    counts_file.write_text(json.dumps(d, sort_keys=True))


def test_an_entry_from_before_the_check_is_upgraded_in_place_without_yosys(entry, pristine, monkeypatch):
    old_format(entry[0])
    monkeypatch.setattr(synth, "run_synthesis", lambda *a, **k: pytest.fail("yosys ran for a valid old entry"))
    r = no_warning(synthesize)
    assert r.cached and r == pristine["result"]  # the same numbers, run time included
    assert entry[0].read_bytes() == pristine["counts_raw"]  # check added, the netlist left as it was
    assert entry[1].read_bytes() == pristine["netlist_raw"]
    old_format(entry[0])
    assert no_warning(netlist) == pristine["netlist"]
    assert "check" in json.loads(entry[0].read_text())


def test_an_old_entry_of_wrong_shape_or_with_a_damaged_netlist_is_recomputed(entry, pristine):
    old_format(entry[0])
    entry[1].write_bytes(entry[1].read_bytes()[:-100])
    r = one_warning(synthesize, entry[1], "not valid JSON")
    assert not r.cached and same(r) == same(pristine["result"])
    assert no_warning(synthesize).cached
    old_format(entry[0])
    entry[1].write_text(json.dumps({"modules": {}}))  # JSON, but not a module
    one_warning(synthesize, entry[1], "wrong shape")
    assert no_warning(synthesize).cached


def test_an_entry_copied_under_another_key_fails_its_checksum(entry, pristine):
    other = entry[0].with_name("0" * 32 + ".json")
    shutil.copy(entry[0], other)
    shutil.copy(entry[1], synth._netlist_file(other))
    with pytest.raises(synth._Damaged, match="checksum mismatch"):
        synth._load_entry(other, want_netlist=False)


# --------------------------------------------------------------------------------------------
# a cache folder that cannot be written
# --------------------------------------------------------------------------------------------

@pytest.fixture
def unwritable(tmp_path, monkeypatch):
    """A cache folder under a regular file: nothing can be created there, not even by root."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be\n")
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(blocker))
    return synth.cache_dir()


def test_an_unwritable_cache_still_returns_the_result_and_warns_once(unwritable, pristine):
    r = one_warning(synthesize, unwritable, "cannot be written")
    assert not r.cached and same(r) == same(pristine["result"])
    r = no_warning(synthesize)  # warned once per folder; the result is computed again
    assert not r.cached and same(r) == same(pristine["result"])
    assert no_warning(netlist) == pristine["netlist"]  # gate_netlist returns its netlist all the same


def test_check_cache_writable_names_the_folder(unwritable):
    with pytest.raises(ValueError) as exc:
        synth.check_cache_writable()
    msg = str(exc.value)
    assert str(unwritable) in msg and "cannot be written" in msg and "BITWEIGHT_CACHE_DIR" in msg
    assert "\n" not in msg


def test_check_cache_writable_respects_access_rights(tmp_path, monkeypatch):
    monkeypatch.setenv("BITWEIGHT_CACHE_DIR", str(tmp_path))
    synth.check_cache_writable()  # a writable folder passes (and is created)
    assert synth.cache_dir().is_dir() and not any(synth.cache_dir().iterdir())  # no probe left behind
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(synth.cache_dir())
                        else real_access(p, mode, **k))
    with pytest.raises(ValueError, match=f"^synthesis cache folder {synth.cache_dir()} cannot be written"):
        synth.check_cache_writable()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder(entry, pristine, tmp_path):
    folder = entry[0].parent
    entry[0].unlink()
    entry[1].unlink()
    folder.chmod(0o555)
    try:
        r = one_warning(synthesize, folder, "cannot be written")
        assert same(r) == same(pristine["result"])
        with pytest.raises(ValueError, match=str(folder)):
            synth.check_cache_writable()
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------------------------
# the other on-disk caches
# --------------------------------------------------------------------------------------------

def test_a_damaged_cosim_build_stamp_means_a_rebuild(tmp_path, capsys):
    from rtl_models import cosim

    if cosim.simulator_missing("icarus"):
        pytest.skip(cosim.simulator_missing("icarus"))
    params = {"A_W": 2, "B_W": 2, "ACC_W": 8}
    first = cosim.build("icarus", "mac_pe", params, build_root=tmp_path)
    stamp = first / "bitweight_build.json"
    good = stamp.read_bytes()
    for bad in (b"\xff\xfe not text", good[: len(good) // 2], b"[1, 2]"):
        stamp.write_bytes(bad)
        capsys.readouterr()
        assert cosim.build("icarus", "mac_pe", params, build_root=tmp_path) == first
        err = capsys.readouterr().err
        assert "compiling mac_pe" in err  # rebuilt
        if bad != b"[1, 2]":  # unreadable: named; of another shape: just stale
            assert f"damaged build stamp {stamp}" in err
        assert stamp.read_bytes() == good
    assert cosim._read_stamp(tmp_path / "nowhere" / "bitweight_build.json") is None
