"""The low-bit comparison table (reports/sections/lowbit_compare.py) and the event prices behind it."""

import math

import pytest

from reports import cost
from reports.sections.lowbit_compare import lowbit_table
from sim.lut_pe import lut_events


@pytest.fixture(scope="module")
def table():
    return lowbit_table(rows=4, cols=4, progress=None)


def _row(df, engine, workload):
    sub = df[(df.engine == engine) & (df.workload == workload)]
    assert len(sub) == 1, (engine, workload)
    return sub.iloc[0]


def test_narrow_weights_cost_less_and_fp16_more(table):
    for w in ("gemv_4096", "minilm_ffn_up_128tok"):
        e = [_row(table, n, w).energy_per_mac_pj for n in ("os_fp16_4x4", "os_4x4", "os_w4a8_4x4", "os_w2a8_4x4")]
        assert e == sorted(e, reverse=True), e
        assert _row(table, "os_4x4", w).energy_vs_int8 == 1.0
        lut = [_row(table, f"lut_q{q}_1pe", w).energy_per_mac_pj for q in (2, 3, 4)]
        assert lut == sorted(lut)
    # narrower weights give a smaller synthesised array
    areas = [_row(table, n, "gemv_4096").area_um2 for n in ("os_4x4", "os_w4a8_4x4", "os_w2a8_4x4")]
    assert areas == sorted(areas, reverse=True)
    assert math.isnan(_row(table, "os_fp16_4x4", "gemv_4096").area_um2)


def test_lut_arithmetic_energy_is_the_shiftaddllm_prices_times_the_events(table):
    m, n, k, q = 1, 4096, 4096, 3
    per_lookup = 0.37 + 0.15 + 0.1  # LUT read + shift + int32 accumulate add
    per_table = 256 * 0.37 + 263 * 0.1  # 256 entry writes (costed as reads) + 263 build adds
    expected = (m * (k // 8) * (q * n * per_lookup + per_table)) / (m * n * k)
    assert _row(table, "lut_q3_1pe", "gemv_4096").mac_arithmetic_pj_per_mac == pytest.approx(expected, rel=1e-12)
    # every event of the LUT PE has a price
    by = cost.energy_by_component_pj(lut_events(2, 16, 64, 2), cost.lut_event_energy())
    assert by["mac_arithmetic"] > 0 and by["buffers"] > 0 and by["pe_registers"] > 0


def test_narrow_multiplier_and_packed_weight_prices():
    rows = {r.event: r for r in cost.int_gemm_event_energy(8, 4)}
    base = {r.event: r for r in cost.int_gemm_event_energy(8, 8)}
    assert rows["mac_slots"].energy_pj == pytest.approx(0.2 * 32 / 64 + 0.1)
    assert rows["b_buffer_reads_bytes"].energy_pj == pytest.approx(base["b_buffer_reads_bytes"].energy_pj / 2)
    assert "ASSUMPTION" in rows["mac_slots"].derivation
    with pytest.raises(ValueError, match="operand widths must be 2..32 bits, got a_bits=8, b_bits=1"):
        cost.int_gemm_event_energy(8, 1)
    fp16 = {r.event: r for r in cost.fp16_gemm_event_energy()}
    assert fp16["mac_slots"].energy_pj == pytest.approx(1.1 + 0.9)
    assert fp16["a_buffer_reads_bytes"].energy_pj == pytest.approx(2 * base["a_buffer_reads_bytes"].energy_pj)
