"""Every registry entry names things that exist: functions that import, Verilog tops that are
declared, a family whose signatures are documented."""

import pytest

from reports.registry import ENGINES, FAMILIES, engines, get_engine, load
from rtl_models.sources import sources_for


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_entry_names_real_things(name):
    e = ENGINES[name]
    assert e.family in FAMILIES
    for ref in (e.model, e.estimate, e.kernel, e.kernel_reference, e.workloads, e.cosim):
        assert callable(load(ref)), ref
    for top in (e.rtl_top, e.rtl_pe_top):
        assert sources_for(top), top


def test_family_filter_and_errors():
    assert set(engines("int_gemm_array")) == {"os", "ws", "os_csa", "ws_csa"}
    assert set(engines()) == set(ENGINES)
    with pytest.raises(ValueError, match=r"unknown engine family 'fp8'; families: int_gemm_array, fwht, digit_skip_gemm, fp8_mac, lut_gemm"):
        engines("fp8")
    with pytest.raises(ValueError, match=r"unknown engine .fwht.; registered engines: os, os_csa, ws, ws_csa"):
        get_engine("fwht", "int_gemm_array")
