"""Hadamard and FP8 engine costs (reports/sections/engine_costs.py) and their toggle drivers."""

import math

import numpy as np
import pytest

from reports import toggles
from reports.sections.engine_costs import engine_cost_table


def test_engine_cost_table_small():
    df = engine_cost_table(n=4, array=2, gemm=(4, 4, 4), samples=4, progress=None).set_index("engine")
    fw = df.loc["fwht_butterfly N=4"]
    assert fw.latency_cycles == 2 and fw.energy_pj > 0 and fw.energy_per_element_pj == pytest.approx(fw.energy_pj / 4)
    for fmt in ("e4m3 x e4m3", "e5m2 x e5m2"):
        row = df.loc[f"fp8_os_pe {fmt}"]
        assert row.energy_pj > 0 and row.area_um2 > 1000
    arr = df.loc["fp8_os_array 2x2 e4m3"]
    assert math.isnan(arr.energy_pj) and arr.latency_cycles > 0
    assert (df.latency_ns == df.latency_cycles * 1e3 / df.clock_mhz).all()


def test_toggle_driver_errors():
    with pytest.raises(ValueError, match="FP8 codes 0..255"):
        toggles.fp8_pe_toggle_energy(np.full((2, 3), 300), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="N a power of two >= 2"):
        toggles.fwht_toggle_energy(np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"a must be \(R, K\) and b \(K, C\)"):
        toggles.bcast_toggle_energy("mac", np.zeros((2, 3)), np.zeros((4, 2)))
