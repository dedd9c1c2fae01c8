"""Bit-serial and bit-slice PEs side by side: OPT3 zero-digit skipping and its OPT4E group (4 OPT3
sub-PEs along K sharing one 6:2 compressor) against Stripes, Laconic and Bit Fusion (issue 3's
"versus Laconic" on real designs).

Every PE is the Verilog of this suite, synthesised alone (reports/synth.py: area, clock), and its
cycles per dot product come from its cycle model (sim/digit_skip.py, sim/digit_skip_4e.py,
sim/bitserial.py), the
models the co-simulation tests hold equal to the RTL's measured cycles. Operands: Gaussian INT8
(std 30) and all-MiniLM-L6-v2's INT8 weights x activations on real text, K = 1024 per dot
product, averaged over several dot products; lower precisions use Gaussian data scaled to the
range. Area efficiency = MACs per second per um^2 of PE = K / cycles x clock / area. At 8 bits,
energy per MAC from gate-level toggles of each PE's dot-product top (reports/toggles.py), its
operand buffers left out: the PE and its control. Buffers and operand delivery are not
included: a PE-level comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports import synth
from rtl_models.synth import verilog_sources

K = 1024
REFERENCE = "laconic"  # the engine the "vs" columns divide by: the paper compares its bit-slice design with Laconic


def _operands(bits: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hi = (1 << (bits - 1)) - 1
    std = 30.0 if bits == 8 else max(hi / 2.5, 0.6)
    draw = lambda: np.clip(np.rint(rng.normal(0, std, (n, K))), -hi - 1, hi).astype(np.int64)  # noqa: E731
    return draw(), draw()


def _real(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from kernels.models.real_tensors import real_int8_gemms

    _, a, b = real_int8_gemms(max_m=n, max_n=n, max_k=K, layers=["blocks.3.ffn_down"], seed=seed)[0]
    m = min(a.shape[0], b.shape[1])
    return np.asarray(a, np.int64)[:m], np.asarray(b, np.int64)[:, :m].T


@dataclass(frozen=True)
class BitSerialPE:
    """What the table needs of one engine at one precision (its record's ``tables["bitserial"]``
    gives it, or None where the engine does not run that precision)."""

    label: str  # the table's engine column, e.g. "laconic (4 lanes)"
    config: Any  # the cycle model's config at this precision
    top: str  # the PE synthesised alone
    params: Mapping[str, int]
    dot_cycles: Callable[[np.ndarray, np.ndarray], int]  # cycles of one dot product a . w
    dot_top: str  # its start/done dot-product top, driven for the gate-level toggles
    dot_params: Mapping[str, int]
    b_port: str  # the dot top's second operand port


def _pe_rows(bits: int) -> list[BitSerialPE]:
    """Every engine of the "bitserial" table that runs ``bits`` x ``bits``, in registry order."""
    from reports.registry import engines

    rows = [e.tables["bitserial"](bits) for e in engines(table="bitserial").values()]
    return [r for r in rows if r is not None]


def pe_energy(pe: BitSerialPE, a: np.ndarray, w: np.ndarray, progress=None) -> float:
    """pJ per MAC of the 8-bit PE and its control, from gate-level toggles of its dot-product top
    on the dot products a[l] . w[l] (buffers left out)."""
    from reports import toggles

    depth = max(16, 1 << (a.shape[1] - 1).bit_length())
    return toggles.dot_top_toggle_energy(pe.dot_top, {**pe.dot_params, "DEPTH": depth}, a, w, b_port=pe.b_port,
                                         progress=progress)


def bitserial_table(n: int = 8, seed: int = 0, precisions=(8, 4, 2), progress=print, energy_dots: int = 4,
                    energy_k: int = 32) -> pd.DataFrame:
    """One row per PE x precision x data (module docstring); at 8 bits on Gaussian data also
    ``pj_per_mac`` from gate-level toggles (``energy_dots`` dot products of ``energy_k``; the PE and
    its control, not the operand buffers)."""
    out = []
    for bits in precisions:
        data = {"gaussian": _operands(bits, n, seed)}
        if bits == 8:
            data["all-MiniLM-L6-v2"] = _real(n, seed)
        for pe in _pe_rows(bits):
            try:
                res = synth.synthesize(verilog_sources(pe.top), pe.top, dict(pe.params), progress=progress)
            except ValueError as exc:  # a parameter the PE does not take at this precision
                raise ValueError(f"{pe.label} at {bits} bits: {exc}") from exc
            energy = float("nan")
            if bits == 8 and energy_dots:
                ea, ew = _operands(8, energy_dots, seed + 1)
                energy = pe_energy(pe, ea[:, :energy_k], ew[:, :energy_k], progress)
            for name, (a, w) in data.items():
                cycles = float(np.mean([pe.dot_cycles(x, y) for x, y in zip(a, w)]))
                out.append({"engine": pe.label, "bits": bits, "data": name, "k": K, "cycles_per_dot": cycles,
                            "macs_per_cycle": K / cycles, "area_um2": res.area_um2, "clock_mhz": res.est_clock_mhz,
                            "macs_per_s_per_um2": K / cycles * res.est_clock_mhz * 1e6 / res.area_um2,
                            "pj_per_mac": energy if name == "gaussian" else float("nan")})
    df = pd.DataFrame(out)
    from reports.registry import get_engine

    for (bits, data), sub in df.groupby(["bits", "data"]):
        ref = get_engine(REFERENCE).tables["bitserial"](bits)
        lac = sub[sub.engine == ref.label] if ref is not None else sub.iloc[:0]
        if len(lac):
            df.loc[sub.index, "area_eff_vs_laconic"] = sub.macs_per_s_per_um2 / float(lac.macs_per_s_per_um2.iloc[0])
            df.loc[sub.index, "energy_eff_vs_laconic"] = float(lac.pj_per_mac.iloc[0]) / sub.pj_per_mac
    return df


ORDER = 80  # its place in the report: reports/sections/ runs its modules by ORDER


def report_sections(progress=print, quick: bool = False) -> list:
    from reports.build import ReportSection

    progress("report: bit-serial PEs (Stripes, Laconic, Bit Fusion) beside OPT3")
    df = bitserial_table(**({"n": 2, "precisions": (8,), "energy_dots": 1, "energy_k": 8} if quick else {}),
                         progress=progress)
    note = (f"PE-level comparison: each PE synthesised alone, cycles per K = {K} dot product from its cycle model "
            "(held equal to the RTL by co-simulation), area efficiency = MAC/s per um^2 of PE; at 8 bits energy per MAC "
            "from gate-level toggles of the PE and its control (Gaussian data). No buffers. "
            "OPT3 is INT8 only; Stripes and Laconic take any precision, Bit Fusion 2/4/8 bits.")
    return [ReportSection("Bit-serial PEs vs OPT3", "bitserial_pes.csv", df, note)]
