"""LUT-based binary-coded GEMM (ShiftAddLLM / LUT-GEMM): int8 activations, up to 4 sign planes,
power-of-two scales as shifts. One 256-entry-table PE, and an array of P look-up lanes sharing one
Gray-code table builder (optionally double-buffered).

Models sim/lut_pe.py, sim/lut_array.py; RTL lut_pe.v, lut_array.v; kernel kernels/lut_gemm.py
(the power-of-two-scale path); co-simulation rtl_models/lut_cosim.py, lut_array_cosim.py.

The report prices a binary-coded format on them (q sign planes, scales per group_size weights):
its configs are :class:`LutGemm`, the engine's config with that format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.engine import Case, Engine, Outcome, Priced, load
from reports.engines._common import torch_of

ORDER = 20


@dataclass(frozen=True)
class LutGemm:
    """A LUT engine's config (``pe``) with the binary-coded format it is priced with: q sign
    planes, scale groups of group_size along K."""

    pe: Any
    q: int = 3
    group_size: int = 128


def operand_bits(cfg: LutGemm):
    """int8 activations; q sign planes per weight plus each plane's exp_bits-bit scale exponent
    per group of group_size weights; int32 outputs."""
    pe = cfg.pe
    return load("sim.memory:OperandBits")(a=8, w=cfg.q + cfg.q * pe.exp_bits / cfg.group_size, out=32, psum=32)


def estimate_pe(m: int, n: int, k: int, cfg: LutGemm):
    return load("sim.lut_pe:estimate_lut_gemm")(m, n, k, cfg.q, cfg.group_size)


def estimate_array(m: int, n: int, k: int, cfg: LutGemm):
    return load("sim.lut_array:estimate_lut_array")(m, n, k, cfg.q, cfg.group_size, cfg.pe)


def _energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
    from reports import cost

    pe = cfg.pe if isinstance(cfg, LutGemm) else cfg
    acc_bits = _pe_config(pe.exp_bits).acc_bits  # the array's lanes accumulate as the PE does
    return cost.lut_event_energy(exp_bits=pe.exp_bits, acc_bits=acc_bits, sram_key=sram_key)


def _array_params(cfg) -> dict:
    pe = cfg.pe if isinstance(cfg, LutGemm) else cfg
    params = {"P": pe.lanes, "DBUF": int(pe.double_buffer)}
    if pe.exp_bits != 4:  # the RTL's default
        params["EXP_W"] = pe.exp_bits
    return params


def _golden(ref: str):
    return lambda seed: [Case(w[0], tuple(w[1:])) for w in load(ref)(seed=seed)]


def _model(ref: str):
    def run(cfg, ops) -> Outcome:
        r = load(ref)(*ops, cfg)
        return Outcome(np.asarray(r.y), int(r.cycles), (), dict(r.events))

    return run


def _torch_ops(ops) -> tuple:
    x, packed, exps, group_size = ops
    return torch_of(x), torch_of(packed), torch_of(exps), int(group_size)


def _kernel(cfg, ops) -> np.ndarray:
    return load("kernels.lut_gemm:lut_gemm_pow2")(*_torch_ops(ops)).numpy()


def _reference(cfg, ops) -> np.ndarray:
    return load("kernels.lut_gemm:lut_gemm_pow2_reference")(*_torch_ops(ops)).numpy()


def _pe_cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.lut_cosim:run_lut_cosim_batch")(list(operands), sim=sim, exp_bits=cfg.exp_bits,
                                                            seed=seed, **kw)


def _array_cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.lut_array_cosim:run_lut_array_cosim_batch")(list(operands), sim=sim, config=cfg,
                                                                        seed=seed, **kw)


def _pe_config(exp_bits: int = 4):
    return load("sim.lut_pe:LutPEConfig")(exp_bits=exp_bits)


def _array_config(exp_bits: int = 4, lanes: int = 4, double_buffer: bool = True):
    return load("sim.lut_array:LutArrayConfig")(lanes=lanes, double_buffer=double_buffer, exp_bits=exp_bits)


def _fmt(s) -> str:
    return f"LUT-based binary-coded GEMM, {s.lut_q} sign planes, power-of-two scales per {s.lut_group} weights as shifts"


ENGINES = [
    Engine(
        name="lut",
        description="LUT-based binary-coded GEMM (ShiftAddLLM / LUT-GEMM): int8 activations, up to 4 "
        "sign planes, power-of-two scales as shifts, one 256-entry-table PE",
        family="lut",
        operand_bits=operand_bits,
        tile_granule=lambda c: (1, 1, c.group_size),
        config=_pe_config,
        model="sim.lut_pe:simulate_lut_gemm",
        estimate="reports.engines.lut:estimate_pe",
        rtl_top="lut_pe",
        rtl_params=lambda cfg: {},
        pe_top="lut_pe",
        kernel="kernels.lut_gemm:lut_gemm_pow2",
        kernel_reference="kernels.lut_gemm:lut_gemm_pow2_reference",
        golden=_golden("sim.lut_pe:lut_edge_workloads"),
        crosscheck_config=_pe_config,
        run_model=_model("sim.lut_pe:simulate_lut_gemm"),
        run_kernel=_kernel,
        run_reference=_reference,
        run_cosim=_pe_cosim,
        event_energy=_energy,
        priced=lambda s: [Priced(f"lut_q{s.lut_q}_1pe", LutGemm(_pe_config(), s.lut_q, s.lut_group),
                                 f"{_fmt(s)}: one 256-entry-table PE (263-cycle table build per 8 activations, then "
                                 "one look-up per plane and output)")],
        pe_in_cost_table=False,
        tables=dict.fromkeys(["lowbit_planes"]),
    ),
    Engine(
        name="lut_array",
        description="LUT-based binary-coded GEMM on an array: one Gray-code table builder shared by P look-up lanes "
        "(lane l takes output rows l, l+P, ...; one table with P read ports), optionally double-buffered so the "
        "next table build overlaps the look-ups",
        family="lut",
        operand_bits=operand_bits,
        tile_granule=lambda c: (1, 1, c.group_size),
        config=_array_config,
        model="sim.lut_array:simulate_lut_array",
        estimate="reports.engines.lut:estimate_array",
        rtl_top="lut_array",
        rtl_params=_array_params,
        pe_top="lut_array_lane",
        kernel="kernels.lut_gemm:lut_gemm_pow2",
        kernel_reference="kernels.lut_gemm:lut_gemm_pow2_reference",
        golden=_golden("sim.lut_array:lut_array_workloads"),
        crosscheck_config=_array_config,
        run_model=_model("sim.lut_array:simulate_lut_array"),
        run_kernel=_kernel,
        run_reference=_reference,
        run_cosim=_array_cosim,
        mac_units=lambda cfg: (cfg.pe if isinstance(cfg, LutGemm) else cfg).lanes,
        event_energy=_energy,
        priced=lambda s: [Priced(f"lut_q{s.lut_q}_{s.lut_lanes}lanes",
                                 LutGemm(_array_config(lanes=s.lut_lanes, double_buffer=False), s.lut_q, s.lut_group),
                                 f"{_fmt(s)}: one table builder shared by {s.lut_lanes} look-up lanes")],
        tables=dict.fromkeys(["lowbit_planes", "quant_planes"]),
    ),
]
