"""Area, clock, latency and energy of the Hadamard and FP8 engines (issue 5's engine costs).

* ``fwht_butterfly``: the pipelined Walsh-Hadamard network (N lanes, log2 N registered stages,
  int8 in), one transform per clock after a latency of log2 N clocks (sim/hadamard.py); energy
  per transform from gate-level toggles (reports/toggles.py) on Gaussian int8 vectors, beside the
  same transform as a dense N x N matrix-vector product on the INT8 MAC PE.
* ``fp8_os_pe``: the FP8 array's PE (exact e4m3/e5m2 product, single-cycle FP32 add), energy per
  MAC from toggles on N(0, 1) data encoded to FP8, beside the INT8 MAC PE on Gaussian int8.
* ``fp8_os_array``: an R x C array of them; latency of a GEMM from its cycle model
  (sim/fp8_array.py) and the synthesised clock.

Area and clock: yosys generic synthesis costed as NanGate45 X1 cells (reports/synth.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import synth, toggles
from rtl_models.synth import verilog_sources


def engine_cost_table(n: int = 16, array: int = 4, gemm: tuple[int, int, int] = (64, 64, 64), samples: int = 32,
                      progress=print) -> pd.DataFrame:
    from sim.fp8 import encode
    from sim.fp8_array import Fp8ArrayConfig, estimate_gemm

    rng = np.random.default_rng(0)
    rows = []
    x = np.clip(np.rint(rng.normal(0, 30, (samples, n))), -128, 127).astype(np.int64)
    stages = n.bit_length() - 1
    fw = synth.synthesize(verilog_sources("fwht_butterfly"), "fwht_butterfly", {"N": n, "W": 8},
                          progress=progress)
    e_fwht = toggles.fwht_toggle_energy(x, progress=progress)
    a8 = np.clip(np.rint(rng.normal(0, 30, (samples, 48))), -128, 127).astype(np.int64)
    b8 = np.clip(np.rint(rng.normal(0, 30, (samples, 48))), -128, 127).astype(np.int64)
    e_mac = toggles.pe_toggle_energy("mac", a8, b8, "gaussian int8", progress=progress).pj_per_mac
    mac = synth.synthesize(verilog_sources("mac_pe"), "mac_pe", {}, progress=progress)
    rows.append({"engine": f"fwht_butterfly N={n}", "area_um2": fw.area_um2, "clock_mhz": fw.est_clock_mhz,
                 "latency_cycles": stages, "throughput_per_cycle": "1 transform",
                 "energy_pj": e_fwht, "energy_unit": "per transform", "energy_per_element_pj": e_fwht / n,
                 "note": f"dense H_{n} matrix-vector on the INT8 MAC PE: {n * n} MACs x {e_mac:.3f} pJ = "
                         f"{n * n * e_mac:.1f} pJ ({n * n * e_mac / e_fwht:.0f}x the butterfly)"})
    for fa, fb in (("e4m3", "e4m3"), ("e5m2", "e5m2")):
        codes = lambda: encode(rng.normal(0, 1, (samples, 48)), fa).astype(np.int64)  # noqa: E731
        a, b = codes(), encode(rng.normal(0, 1, (samples, 48)), fb).astype(np.int64)
        from sim.fp8 import get_format

        params = {"FMT_A": get_format(fa).code, "FMT_B": get_format(fb).code}
        pe = synth.synthesize(verilog_sources("fp8_os_array"), "fp8_os_pe", params, progress=progress)
        e = toggles.fp8_pe_toggle_energy(a, b, fa, fb, progress=progress)
        rows.append({"engine": f"fp8_os_pe {fa} x {fb}", "area_um2": pe.area_um2, "clock_mhz": pe.est_clock_mhz,
                     "latency_cycles": 2, "throughput_per_cycle": "1 MAC", "energy_pj": e, "energy_unit": "per MAC",
                     "energy_per_element_pj": e,
                     "note": f"INT8 MAC PE on Gaussian int8: {e_mac:.3f} pJ/MAC, {mac.area_um2:.0f} um^2, "
                             f"~{mac.est_clock_mhz:.0f} MHz (FP8 costs {e / e_mac:.2f}x the energy)"})
    cfg = Fp8ArrayConfig(array, array, "e4m3", "e4m3", depth=max(64, 1 << (gemm[2] - 1).bit_length()))
    arr = synth.synthesize(verilog_sources("fp8_os_array"), "fp8_os_array", cfg.rtl_params, progress=progress)
    est = estimate_gemm(*gemm, cfg)
    rows.append({"engine": f"fp8_os_array {array}x{array} e4m3", "area_um2": arr.area_um2, "clock_mhz": arr.est_clock_mhz,
                 "latency_cycles": est.cycles, "throughput_per_cycle": f"{array * array} MACs peak",
                 "energy_pj": float("nan"), "energy_unit": "", "energy_per_element_pj": float("nan"),
                 "note": f"{gemm[0]}x{gemm[1]}x{gemm[2]} GEMM: {est.cycles} cycles = "
                         f"{est.cycles / arr.est_clock_mhz:.1f} us at the synthesised clock; energy per MAC as the PE row "
                         "plus buffers (not modelled for this array)"})
    df = pd.DataFrame(rows)
    df["latency_ns"] = df.latency_cycles * 1e3 / df.clock_mhz
    return df


ORDER = 60  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    progress("report: Hadamard and FP8 engine costs")
    small = {"n": 4, "array": 2, "gemm": (4, 4, 4), "samples": 4} if quick else {}
    df = engine_cost_table(**small, progress=progress)
    note = ("The Walsh-Hadamard butterfly and the FP8 MAC engines: synthesised area and clock, latency from the cycle "
            "models, energy from gate-level toggles (zero-delay; calibrated on a 32-bit adder against Horowitz), each "
            "beside the INT8 MAC baseline in the note column.")
    return [ReportSection("Hadamard and FP8 engines: area, latency, energy", "engine_costs_hadamard_fp8.csv", df,
                          note)]
