"""The three-way cross-check of every registered engine, through its record's contract alone
(reports/engine.py): on the engine's golden cases,

    GPU kernel (Triton; interpreted on the CPU here) == torch reference == cycle model == RTL,

bit for bit, and the RTL's measured cycles == the model's, in total and fold by fold, on Icarus
and on Verilator. An engine added to a family file in reports/engines/ is picked up here without
editing this file. What is specific to a family (edge cases, error messages, planted bugs in its
bench) stays in its own test file.

The mutation tests at the end plant a bug in each of the three implementations of several
families and show the cross-check fails.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from reports.engine import Outcome
from reports.registry import ENGINES
from rtl_models.testing import needs

SEED = 7


def mismatches(engine, cfg, cases, models, kernels=None, references=None, rtl=None) -> list[str]:
    """Every disagreement between the implementations, as readable lines (empty: all agree)."""
    out = []
    for i, case in enumerate(cases):
        model = models[i]
        if kernels is not None and not np.array_equal(np.asarray(kernels[i]), model.values):
            out.append(f"{engine.name} {case.name}: kernel values differ from the model's")
        if references is not None and not np.array_equal(np.asarray(references[i]), model.values):
            out.append(f"{engine.name} {case.name}: torch reference differs from the model")
        if rtl is not None:
            r = rtl[i]
            if not np.array_equal(np.asarray(r.values), model.values):
                out.append(f"{engine.name} {case.name}: RTL values differ from the model's")
            if int(r.cycles) != model.cycles:
                out.append(f"{engine.name} {case.name}: RTL {r.cycles} cycles, model {model.cycles}")
            if tuple(int(c) for c in (r.fold_cycles or ())) != model.fold_cycles:
                out.append(f"{engine.name} {case.name}: RTL cycles per fold {tuple(r.fold_cycles)}, "
                           f"model {model.fold_cycles}")
    return out


@pytest.fixture(scope="module", params=list(ENGINES))
def checked(request):
    """The engine, its cross-check config, golden cases and each case's model outcome."""
    engine = ENGINES[request.param]
    cfg = engine.crosscheck_config()
    cases = engine.golden(SEED)
    assert cases, f"{engine.name} has no golden cases"
    return engine, cfg, cases, [engine.run_model(cfg, c.operands) for c in cases]


def test_model_outcome_is_complete(checked):
    engine, cfg, cases, models = checked
    for case, m in zip(cases, models):
        assert isinstance(m, Outcome), case.name
        assert m.cycles > 0 and m.events, f"{engine.name} {case.name}: no cycles or events"
        if m.fold_cycles:
            assert sum(m.fold_cycles) == m.cycles, f"{engine.name} {case.name}: folds do not add up"


def test_kernel_reference_and_model_agree(checked):
    engine, cfg, cases, models = checked
    kernels = [engine.run_kernel(cfg, c.operands) for c in cases]
    references = [engine.run_reference(cfg, c.operands) for c in cases]
    assert mismatches(engine, cfg, cases, models, kernels, references) == []


@pytest.mark.rtl
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_rtl_agrees_with_the_model(checked, sim):
    needs(sim)
    engine, cfg, cases, models = checked
    rtl = engine.run_cosim(cfg, [c.operands for c in cases], sim=sim, seed=SEED)
    assert len(rtl) == len(cases)
    assert mismatches(engine, cfg, cases, models, rtl=rtl) == []


# ---------------------------------------------------------------------------------------------
# planted bugs: the cross-check fails when any one implementation is wrong

MUTANT_FAMILIES = ("os", "fwht", "lut", "fp8_os")


def _flip(values) -> np.ndarray:
    v = np.array(values, copy=True)
    flat = v.reshape(-1)
    flat[0] = flat[0] ^ 1 if np.issubdtype(v.dtype, np.integer) else flat[0] + 1
    return v


@pytest.mark.parametrize("name", MUTANT_FAMILIES)
def test_a_wrong_kernel_or_model_fails_the_cross_check(name):
    engine = ENGINES[name]
    cfg, cases = engine.crosscheck_config(), engine.golden(SEED)[:2]
    models = [engine.run_model(cfg, c.operands) for c in cases]
    kernels = [engine.run_kernel(cfg, c.operands) for c in cases]
    assert mismatches(engine, cfg, cases, models, kernels) == []
    bad_kernels = [_flip(k) for k in kernels]
    assert any("kernel values differ" in m for m in mismatches(engine, cfg, cases, models, bad_kernels))
    bad_models = [dataclasses.replace(m, values=_flip(m.values)) for m in models]
    assert any("kernel values differ" in m for m in mismatches(engine, cfg, cases, bad_models, kernels))


# one planted RTL bug per family: (Verilog file, text, replacement); the bench measures the
# mutant and the cross-check (or the bench's own check against the model) must fail
RTL_MUTANTS = {
    "os": ("mac_pe.v", "acc_out <= drain ? acc_in : acc_out + prod_ext;",
           "acc_out <= drain ? acc_in : acc_out + prod_ext + 1;"),
    "fwht": ("fwht_butterfly.v", "diff <= a_x - b_x;", "diff <= b_x - a_x;"),
    "lut": ("lut_pe.v", "if (tbl_we) tbl[tbl_entry] <= tbl_data;", "if (tbl_we) tbl[tbl_entry] <= tbl_data + 1;"),
}


@pytest.mark.rtl
@pytest.mark.parametrize("name", ["os", "fwht", "lut"])
def test_a_wrong_rtl_fails_the_cross_check(name, tmp_path, monkeypatch):
    """A planted bug in the Verilog: the co-simulation raises or its outcome differs from the model."""
    from rtl_models import cosim

    needs("icarus")
    engine = ENGINES[name]
    file, old, new = RTL_MUTANTS[name]
    broken = tmp_path / "verilog"
    shutil.copytree(cosim.VERILOG_DIR, broken)
    src = broken / file
    text = src.read_text()
    assert old in text, f"{file} no longer holds the mutated line {old!r}: update RTL_MUTANTS"
    src.write_text(text.replace(old, new))
    monkeypatch.setattr(cosim, "VERILOG_DIR", broken)
    cfg, cases = engine.crosscheck_config(), engine.golden(SEED)[:3]
    models = [engine.run_model(cfg, c.operands) for c in cases]
    try:
        rtl = engine.run_cosim(cfg, [c.operands for c in cases], sim="icarus", seed=SEED,
                               build_root=tmp_path / "build")
    except cosim.CosimError:
        return  # the bench's own comparison with the model caught it
    assert mismatches(engine, cfg, cases, models, rtl=rtl), "a mutant RTL passed the cross-check"
