"""Zero-digit skipping (TPE OPT3) INT8 x INT8 -> INT32 GEMM on a PE row: EN-T (or Booth) radix-4
digits of A, one cycle per non-zero digit of a group of 4, columns sharing the digit sequencer
(OPT4C); and OPT4E, a K-extended group of 4 such sub-PEs in lock step sharing one 6:2 carry-save
compressor per column. Cycles depend on the data; the estimate is the expectation over a value
distribution (Gaussian INT8, std 30, by default).

Models sim/digit_skip.py, sim/digit_skip_4e.py; RTL digit_skip_pe.v, digit_skip_4e.v; kernel
kernels/int8_gemm.py; co-simulation rtl_models/digit_skip_cosim.py, digit_skip_4e_cosim.py."""

from __future__ import annotations

from reports.engine import Engine, Sizing, load
from reports.engines._common import gemm_benchmark, gemm_model, int8_golden, int8_kernel, int8_reference

ORDER = 50
ENC = {"ent": 0, "booth": 1}


def _rtl_params(cfg) -> dict:
    return {"ACC_W": cfg.acc_bits, "ENC": ENC[cfg.encoding], "N": cfg.cols}


def _engine(name: str, module: str, config_cls: str, cosim: str, rtl_top: str, pe_top: str, workloads: str,
            group4e: bool, description: str, label: str) -> Engine:
    def make(cols: int = 4, encoding: str = "ent"):
        return load(f"{module}:{config_cls}")(encoding, cols=cols)

    def energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
        from reports import cost

        return cost.digit_skip_event_energy(sram_key, acc_bits=cfg.acc_bits, group4e=group4e)

    def run_cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
        return load(cosim)(list(operands), cfg, sim=sim, seed=seed, **kw)

    def bitserial_pe(bits: int):
        """The bit-serial table's row: INT8 only (the digits are radix-4 of 8-bit values)."""
        if bits != 8:
            return None
        from reports.sections.bitserial_compare import BitSerialPE

        cfg = load(f"{module}:{config_cls}")("ent")
        return BitSerialPE(label, cfg, pe_top, {}, lambda a, w: load(f"{module}:dot_cycles")(a, cfg), rtl_top, {},
                           "ld_b")

    def benchmark():
        a, b = gemm_benchmark()
        return make(16), (a[:16], b[:, :32])  # a per-dot-product model: a smaller GEMM

    return Engine(
        name=name,
        description=description,
        family="digit_skip",
        config=make,
        model=f"{module}:simulate_gemm",
        estimate=f"{module}:estimate_gemm",  # expected cycles/events from A's value distribution
        rtl_top=rtl_top,
        rtl_params=_rtl_params,
        pe_top=pe_top,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        golden=int8_golden(workloads),
        crosscheck_config=make,
        run_model=gemm_model(f"{module}:simulate_gemm"),
        run_kernel=int8_kernel,
        run_reference=int8_reference,
        run_cosim=run_cosim,
        mac_units=(lambda c: 4 * c.cols) if group4e else (lambda c: c.cols),
        sizing=Sizing(config=lambda arch: make(arch.array_width), slots_event=None,
                      sram_events=("encodes", "b_reads", None),
                      note=("W columns of 4 K-extended sub-PEs" if group4e else "W columns sharing one digit sequencer")
                      + ", expected cycles for Gaussian INT8 (std 30)"),
        event_energy=energy,
        pe_alone=True,
        tables={"tpe": None, "bitserial": bitserial_pe},
        benchmark=benchmark,
    )


ENGINES = [
    _engine("opt3", "sim.digit_skip", "DigitSkipConfig", "rtl_models.digit_skip_cosim:run_digit_skip_gemm_cosim_batch",
            "digit_skip_dot", "digit_skip_pe", "sim.workloads:edge_workloads", False,
            "INT8 x INT8 -> INT32 zero-digit-skipping (TPE OPT3) PE row: EN-T radix-4 digits of A, one cycle per "
            "non-zero digit of a group of 4, columns sharing one digit sequencer", "opt3 (EN-T digit skipping)"),
    _engine("opt4e", "sim.digit_skip_4e", "DigitSkip4EConfig",
            "rtl_models.digit_skip_4e_cosim:run_digit_skip_4e_gemm_cosim_batch", "digit_skip_4e_dot",
            "digit_skip_4e_pe", "sim.digit_skip_4e:edge_workloads", True,
            "INT8 x INT8 -> INT32 TPE OPT4E: 4 zero-digit-skipping sub-PEs (K-extended: 16 consecutive K elements per "
            "chunk) in lock step, sharing one 6:2 carry-save compressor per column; columns share the 4 digit "
            "sequencers", "opt4e (4 OPT3 sub-PEs, one shared 6:2)"),
]
