"""Every registry entry names things that exist and speaks the contract: functions that import,
Verilog tops that are declared, golden cases, and errors that name what was expected."""

import pytest

from reports import engine as engine_mod
from reports.registry import ENGINES, FAMILIES, engines, get_engine, load
from rtl_models.sources import sources_for


@pytest.mark.parametrize("name", list(ENGINES))
def test_entry_names_real_things(name):
    e = ENGINES[name]
    assert e.family in FAMILIES
    for ref in (e.model, e.kernel, e.kernel_reference) + ((e.estimate,) if e.estimate else ()):
        assert callable(load(ref)), ref
    for top in (e.rtl_top, e.pe_top):
        assert sources_for(top), top
    cfg = e.crosscheck_config()
    assert isinstance(e.rtl_params(cfg), dict)
    assert e.golden(0), f"{name} has no golden cases"
    if e.sizing is not None:  # a sized GEMM engine has an estimate and a price
        assert e.estimate is not None and e.event_energy is not None


def test_every_family_file_is_discovered():
    import pkgutil

    import reports.engines as package

    files = {m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")}
    assert set(FAMILIES) == files
    # the bit-serial baselines are registered too
    assert {"stripes", "laconic", "bitfusion"} <= set(engines("bitserial"))


def test_family_filter_and_errors():
    assert set(engines("systolic")) >= {"os", "ws", "os_csa", "ws_csa", "os_w4a8", "os_w2a8"}
    assert set(engines()) == set(ENGINES)
    assert "fwht" not in engines(sized=True) and "os" in engines(sized=True)
    assert set(engines(table="bitserial")) >= {"opt3", "opt4e", "stripes", "laconic", "bitfusion"}
    with pytest.raises(ValueError, match=r"unknown engine family 'fp9'; families: systolic, "):
        engines("fp9")
    with pytest.raises(ValueError, match=r"unknown engine 'fwht'; registered engines: os, os_csa, os_w2a8"):
        get_engine("fwht", "systolic")
    with pytest.raises(ValueError, match=r"unknown engine 'fwht'; engines that run a sized GEMM: "):
        get_engine("fwht", sized=True)
    with pytest.raises(ValueError, match=r"a reference must read 'package.module:attribute', got 'sim.systolic'"):
        load("sim.systolic")


def test_record_checks_its_fields():
    e = ENGINES["os"]
    import dataclasses

    with pytest.raises(ValueError, match="engine name must be an identifier, got 'os-2'"):
        dataclasses.replace(e, name="os-2")
    with pytest.raises(ValueError, match="engine os: kernel must be 'module:function', got 'int8_gemm'"):
        dataclasses.replace(e, kernel="int8_gemm")
    with pytest.raises(ValueError, match="engine stripes has no data-free estimate"):
        ENGINES["stripes"].estimate_gemm(1, 1, 1, None)
    assert engine_mod.Sizes.quick().tree == (4, 2)


def test_the_readme_counts_the_registered_engines():
    import re
    from pathlib import Path

    from reports.registry import ENGINES, FAMILIES

    text = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    m = re.search(r"\((\d+) engines in (\d+) families", text)
    assert m, "README.md no longer says how many engines and families there are"
    assert (int(m.group(1)), int(m.group(2))) == (len(ENGINES), len(FAMILIES))
