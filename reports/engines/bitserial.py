"""Bit-serial baselines, each a dot-product PE and its host: Stripes (activations bit-serial,
``lanes`` weights in parallel), Laconic (Booth radix-4 terms of both operands serial), Bit Fusion
(16 2b x 2b BitBricks fused to 2/4/8-bit MACs). Precision is a parameter.

Model sim/bitserial.py; RTL stripes_pe.v, laconic_pe.v, bitfusion_pe.v (their *_dot tops);
kernel kernels/bitplane_gemm.py (bit planes, AND + popcount); co-simulation
rtl_models/bitserial_cosim.py."""

from __future__ import annotations

import numpy as np

from reports.engine import Case, Engine, Outcome, load
from reports.engines._common import torch_of

ORDER = 60
LANES = 4


def _golden(make):
    """Dot products over the config's full operand ranges: random lengths, zeros, and extremes."""

    def golden(seed: int) -> list[Case]:
        cfg = make()
        rng = np.random.default_rng(seed)
        alo, ahi = load("sim.bitserial:operand_range")(cfg.a_bits, cfg.a_signed_)
        wlo, whi = load("sim.bitserial:operand_range")(cfg.w_bits, cfg.w_signed_)
        ra = lambda k: rng.integers(alo, ahi + 1, k)  # noqa: E731
        rw = lambda k: rng.integers(wlo, whi + 1, k)  # noqa: E731
        out = [Case(f"random_k{k}", (ra(k), rw(k))) for k in (1, 3, 5, 16, 23)]
        out += [
            Case("all_zero_a_k9", (np.zeros(9, np.int64), rw(9))),
            Case("all_zero_w_k7", (ra(7), np.zeros(7, np.int64))),
            Case("min_times_min_k20", (np.full(20, alo), np.full(20, wlo))),
            Case("max_times_min_k13", (np.full(13, ahi), np.full(13, wlo))),
            Case("mixed_extremes_k18", (rng.choice([alo, ahi], 18), rng.choice([wlo, whi], 18))),
        ]
        return out

    return golden


def _model(cfg, ops) -> Outcome:
    r = load("sim.bitserial:simulate_dot")(ops[0], ops[1], cfg)
    return Outcome(np.asarray(r.value, np.int64), int(r.cycles), (), dict(r.events))


def _matrices(ops):
    a, w = (np.asarray(x, np.int64) for x in ops)
    return torch_of(a.reshape(1, -1)), torch_of(w.reshape(-1, 1))


def _kernel(cfg, ops) -> np.ndarray:
    a, w = _matrices(ops)
    c = load("kernels.bitplane_gemm:bitplane_gemm")(a, w, cfg.a_bits, cfg.w_bits, a_signed=cfg.a_signed_,
                                                    w_signed=cfg.w_signed_)
    return c.numpy().astype(np.int64).reshape(())


def _reference(cfg, ops) -> np.ndarray:
    return load("kernels.bitplane_gemm:bitplane_gemm_reference")(*_matrices(ops)).numpy().astype(np.int64).reshape(())


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.bitserial_cosim:run_bitserial_cosim_batch")(list(operands), cfg, sim=sim, seed=seed, **kw)


def _engine(name: str, cls: str, pe_top: str, description: str, pe_params, benchmark_lanes: int | None,
            label: str) -> Engine:
    def make(a_bits: int = 8, w_bits: int = 8, **kw):
        if cls != "BitFusionConfig":
            kw.setdefault("lanes", LANES)
        return load(f"sim.bitserial:{cls}")(a_bits=a_bits, w_bits=w_bits, **kw)

    def bitserial_pe(bits: int):
        """The bit-serial table's row at ``bits`` x ``bits`` (Bit Fusion: 2, 4 or 8 bits only)."""
        from reports.sections.bitserial_compare import BitSerialPE

        if cls == "BitFusionConfig" and bits not in load("sim.bitserial:FUSION_BITS"):
            return None
        cfg = make(bits, bits)
        dot_params = {} if cls == "BitFusionConfig" else {"LANES": cfg.lanes}
        return BitSerialPE(label, cfg, pe_top, pe_params(cfg),
                           lambda a, w: load("sim.bitserial:dot_cycles")(a, w, cfg), f"{name}_dot", dot_params, "ld_w")

    def benchmark():
        from reports.engines._common import gemm_benchmark

        a, b = gemm_benchmark()
        return make(lanes=benchmark_lanes), (a[:16], b[:, :32])  # a per-dot-product model: a smaller GEMM

    return Engine(
        name=name,
        description=description,
        family="bitserial",
        config=make,
        model="sim.bitserial:simulate_gemm",
        estimate=None,  # cycles depend on the data
        rtl_top=f"{name}_dot",
        rtl_params=lambda cfg: load("rtl_models.bitserial_cosim:bitserial_params")(cfg, 16),
        pe_top=pe_top,
        pe_params=pe_params,
        kernel="kernels.bitplane_gemm:bitplane_gemm",
        kernel_reference="kernels.bitplane_gemm:bitplane_gemm_reference",
        golden=_golden(make),
        crosscheck_config=make,
        run_model=_model,
        run_kernel=_kernel,
        run_reference=_reference,
        run_cosim=_cosim,
        mac_units=lambda cfg: getattr(cfg, "lanes", 1),
        tables={"bitserial": bitserial_pe},
        benchmark=benchmark if benchmark_lanes else None,
    )


ENGINES = [
    _engine("laconic", "LaconicConfig", "laconic_pe", "Laconic tile: Booth radix-4 terms of both operands serial, "
            "one term pair per lane and cycle, each group waiting for its slowest lane",
            lambda cfg: {"A_W": cfg.a_bits, "W_W": cfg.w_bits, "LANES": cfg.lanes}, 16, f"laconic ({LANES} lanes)"),
    _engine("stripes", "StripesConfig", "stripes_pe", "Stripes serial inner-product unit: activations bit-serial "
            "(MSB subtracted when signed), `lanes` weights in parallel, 2 + ceil(K / lanes) x a_bits cycles",
            lambda cfg: {"A_W": cfg.a_bits, "W_W": cfg.w_bits, "LANES": cfg.lanes}, 16, f"stripes ({LANES} lanes)"),
    _engine("bitfusion", "BitFusionConfig", "bitfusion_unit", "Bit Fusion unit: 16 2b x 2b BitBricks fused to 2/4/8-bit "
            "MACs, 16 / ((a_bits/2)(w_bits/2)) products per cycle",
            lambda cfg: {"A_W": cfg.a_bits, "W_W": cfg.w_bits, "PAIRS": cfg.pairs_per_cycle}, None,
            "bitfusion (16 bricks)"),
]
