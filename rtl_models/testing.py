"""Helpers for the co-simulation tests: skipping without a simulator, one simulator run per key
shared by a module's test items, and a broken copy of the Verilog for the benches' mutation tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from rtl_models import cosim
from rtl_models.cosim import CosimError, simulator_missing

SIMS = ("icarus", "verilator")


def needs(sim: str) -> None:
    """Skip the calling test (pytest.skip) when simulator ``sim`` cannot run here, saying why."""
    import pytest

    reason = simulator_missing(sim)
    if reason:
        pytest.skip(reason)


def run_cache(run: Callable, names: list[str] | None = None) -> Callable:
    """A getter ``get(sim, *key)`` -> ``run(sim, *key)``, run once per key: the body of a
    module-scoped fixture whose test items read one simulator run (with ``names``: the run's
    outcomes as {name: outcome}). It skips without the simulator; a CosimError is kept and raised
    again to every item of its key."""
    cache = {}

    def get(sim, *key):
        needs(sim)
        if (sim, *key) not in cache:
            try:
                out = run(sim, *key)
                cache[(sim, *key)] = out if names is None else dict(zip(names, out, strict=True))
            except CosimError as e:  # every item of the key reports the same failure, once run
                cache[(sim, *key)] = e
        if isinstance(cache[(sim, *key)], CosimError):
            raise cache[(sim, *key)]
        return cache[(sim, *key)]

    return get


def broken_rtl(tmp_path, monkeypatch, file: str, old: str, new: str, count: int | None = 1):
    """Copy the Verilog into ``tmp_path``, replace ``old`` by ``new`` in ``file`` (which must hold
    it ``count`` times; None: at least once) and point the builds at the copy for this test. Returns
    a build root for the broken builds."""
    broken = tmp_path / "verilog"
    if not broken.exists():
        shutil.copytree(cosim.VERILOG_DIR, broken)
    src = broken / file
    text = src.read_text()
    assert (old in text) if count is None else (text.count(old) == count), old
    src.write_text(text.replace(old, new))
    monkeypatch.setattr(cosim, "VERILOG_DIR", broken)
    return tmp_path / "build"


def check_gemm_outcome(res, model, a, b) -> None:
    """An integer GEMM's co-simulation outcome against its cycle model's result (``model``, with
    c, cycles and fold_cycles) and the exact product: int32 C, bit for bit, and the measured
    cycles, total and per fold."""
    import numpy as np

    assert res.values.dtype == np.int32 and res.values.shape == (a.shape[0], b.shape[1])
    np.testing.assert_array_equal(res.values, model.c)
    np.testing.assert_array_equal(res.values.astype(np.int64), a.astype(np.int64) @ b.astype(np.int64))
    assert list(res.fold_cycles) == list(model.fold_cycles)
    assert res.cycles == model.cycles == sum(model.fold_cycles)
