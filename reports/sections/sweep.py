"""Design-space sweep: array size x weight precision x technique, and its Pareto front.

Every point is a real design: the output-stationary array RTL with R = C = size, B_W = weight
bits and the baseline MAC PE or the TPE paper's OPT1 carry-save PE (PE_KIND), synthesised by
reports/synth.py (area, clock), run through the cycle model on one workload (cycles), and priced:

* PE energy per MAC from gate-level toggles of that PE's netlist at that precision
  (reports/toggles.py) on Gaussian INT8 activations x Gaussian weights at the point's precision;
* buffer energy per MAC from the cycle model's event counts (reports/cost.py: the buffer rows
  and the result drain), the same for both PEs at one size and precision.

Area efficiency = achieved GOPS / mm^2 on the workload; energy efficiency = GOPS / W = 2 ops per
MAC / energy per MAC. A point is on the Pareto front when no other point is at least as good in
both and better in one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports import cost, synth, toggles
from rtl_models.synth import verilog_sources

PES = ("mac", "booth_csa")


@dataclass(frozen=True)
class SweepSpace:
    sizes: tuple[int, ...] = (4, 8, 16)
    weight_bits: tuple[int, ...] = (8, 4, 2)
    pes: tuple[str, ...] = PES
    workload: tuple[int, int, int] = (128, 1536, 384)  # all-MiniLM-L6-v2 FFN up, 128 tokens

    def __post_init__(self) -> None:
        if not self.sizes or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 64
                                 for s in self.sizes):
            raise ValueError(f"sizes must be integers in 1..64, got {self.sizes!r}")
        if not self.weight_bits or any(b not in (2, 3, 4, 5, 6, 7, 8) for b in self.weight_bits):
            raise ValueError(f"weight_bits must be in 2..8, got {self.weight_bits!r}")
        bad = [p for p in self.pes if p not in PES]
        if bad or not self.pes:
            raise ValueError(f"pes must be a non-empty subset of {PES}, got {self.pes!r}")
        if len(self.workload) != 3 or any(v < 1 for v in self.workload):
            raise ValueError(f"workload must be (M, N, K) positive integers, got {self.workload!r}")

    def points(self) -> list[tuple[int, int, str]]:
        return [(s, b, p) for s in self.sizes for b in self.weight_bits for p in self.pes]


def _operands(bits: int, lanes: int = 32, k: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.clip(np.rint(rng.normal(0, 30, (lanes, k))), -128, 127).astype(np.int64)
    hi = (1 << (bits - 1)) - 1
    b = np.clip(np.rint(rng.normal(0, hi / 4 + 0.5, (lanes, k))), -hi - 1, hi).astype(np.int64)
    return a, b


def sweep(space: SweepSpace = SweepSpace(), progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """One row per design point, with ``pareto`` marking the front (module docstring)."""
    from sim.systolic import SystolicConfig, estimate_gemm

    m, n, k = space.workload
    rows, pe_energy = [], {}
    pts = space.points()
    for i, (size, bits, pe) in enumerate(pts, 1):
        if progress:
            progress(f"sweep [{i}/{len(pts)}]: {size}x{size} OS array, INT8 x INT{bits}, {pe} PE")
        cfg = SystolicConfig(size, size, "os", b_bits=bits, pe=pe)
        params = {"R": size, "C": size, "A_W": 8, "B_W": bits, "ACC_W": 32}
        if pe == "booth_csa":
            params["PE_KIND"] = 1
        res = synth.synthesize(verilog_sources("os_systolic_array"), "os_systolic_array", params,
                               progress=progress)
        est = estimate_gemm(m, n, k, cfg)
        if (pe, bits) not in pe_energy:
            a, b = _operands(bits)
            pe_energy[pe, bits] = toggles.pe_toggle_energy(pe, a, b, "gaussian", b_bits=bits).pj_per_mac
        table = {r.event: r for r in cost.int_gemm_event_energy(8, bits, 32)}
        buffers = sum(int(v) * table[e].energy_pj for e, v in est.events.items()
                      if table[e].component == "buffers" or e == "pe_drain_reg_writes")
        macs = m * n * k
        e_mac = pe_energy[pe, bits] + buffers / macs
        latency_us = est.cycles / res.est_clock_mhz
        gops = 2 * macs / latency_us / 1e3
        rows.append({"size": f"{size}x{size}", "pes": size * size, "weight_bits": bits, "pe": pe,
                     "area_mm2": res.area_um2 / 1e6, "clock_mhz": res.est_clock_mhz, "cycles": int(est.cycles),
                     "utilisation": macs / (size * size * est.cycles),
                     "pe_pj_per_mac": pe_energy[pe, bits], "buffer_pj_per_mac": buffers / macs,
                     "pj_per_mac": e_mac, "gops": gops, "gops_per_mm2": gops / (res.area_um2 / 1e6),
                     "gops_per_w": 2 / (e_mac * 1e-12) / 1e9})
    df = pd.DataFrame(rows)
    df["pareto"] = pareto_front(df.gops_per_mm2.to_numpy(), df.gops_per_w.to_numpy())
    return df


def pareto_front(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """Mask of the points no other point dominates (>= in both, > in one), larger is better."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got shapes {x.shape} and {y.shape}")
    dominated = ((x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
                 & ((x[None, :] > x[:, None]) | (y[None, :] > y[:, None]))).any(axis=1)
    return ~dominated


def figure(df: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5))
    ax = fig.add_subplot()
    markers = {"mac": "o", "booth_csa": "^"}
    for (pe, bits), sub in df.groupby(["pe", "weight_bits"]):
        ax.scatter(sub.gops_per_mm2, sub.gops_per_w, marker=markers.get(pe, "s"), s=40,
                   label=f"{pe} PE, INT8 x INT{bits}")
        for _, r in sub.iterrows():
            ax.annotate(r["size"], (r.gops_per_mm2, r.gops_per_w), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    front = df[df.pareto].sort_values("gops_per_mm2")
    ax.plot(front.gops_per_mm2, front.gops_per_w, "k--", lw=1, label="Pareto front")
    ax.set_xlabel("area efficiency (GOPS / mm^2)")
    ax.set_ylabel("energy efficiency (GOPS / W)")
    ax.set_title("Design space: OS array size x weight precision x PE (45 nm)")
    ax.legend(fontsize=7)
    return fig


ORDER = 100  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    progress("report: design-space sweep (array size x precision x technique)")
    space = SweepSpace(sizes=(2,), weight_bits=(8, 4)) if quick else SweepSpace()
    df = sweep(space, progress=progress)
    m, n, k = space.workload
    note = (f"Every point synthesised (area, clock) and run through the cycle model on a {m}x{n}x{k} GEMM "
            "(all-MiniLM-L6-v2 FFN up, 128 tokens); PE energy per MAC from gate-level toggles of that PE at that "
            "precision on Gaussian operands, buffer energy from the event counts. pareto = on the front of area "
            "efficiency against energy efficiency.")
    return [ReportSection("Design-space sweep and Pareto front", "design_sweep.csv", df, note, figure=figure(df),
                          figure_caption="Area efficiency against energy efficiency of every design point; "
                          "the dashed line joins the Pareto front.")]
