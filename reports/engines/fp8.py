"""FP8 (e4m3 / e5m2, mixed) engines: a dot-product unit and an R x C output-stationary array of FP8
MACs. Exact FP8 x FP8 -> FP32 products, single-cycle IEEE FP32 accumulation from +0 in order
k = 0..K-1, so model, RTL and the kernel's sequential emulation agree bit for bit; the Triton FP8
GEMM (kernels/fp8_gemm.py) is held to that emulation within an fp32 summation-order bound in its
own tests (a tensor core adds blocks of products in another order).

Models sim/fp8.py, sim/fp8_array.py; RTL fp8_mac.v, fp8_os_array.v; kernel kernels/fp8.py;
co-simulation rtl_models/fp8_cosim.py, fp8_array_cosim.py."""

from __future__ import annotations

import numpy as np

from reports.engine import Case, Engine, Outcome, load

ORDER = 80


def _emulated_bits(cfg, a_codes, b_codes) -> np.ndarray:
    """kernels.fp8's exact emulation with unit scales ((acc * 1) * 1 = acc), as FP32 bit patterns
    (NaN canonical, as the model and RTL give them)."""
    import torch

    from kernels.fp8 import FP8_DTYPES, scaled_fp8_gemm_emulated

    a = torch.from_numpy(np.asarray(a_codes, np.uint8).copy()).view(FP8_DTYPES[cfg.fmt_a])
    b = torch.from_numpy(np.asarray(b_codes, np.uint8).copy()).view(FP8_DTYPES[cfg.fmt_b])
    one = torch.ones((), dtype=torch.float32)
    return load("sim.fp8:f32_to_bits")(scaled_fp8_gemm_emulated(a, b, one, one).numpy())


def _dot_kernel(cfg, ops) -> np.ndarray:
    a, b = ops
    return _emulated_bits(cfg, np.asarray(a).reshape(1, -1), np.asarray(b).reshape(-1, 1)).reshape(())


def _array_kernel(cfg, ops) -> np.ndarray:
    return _emulated_bits(cfg, *ops)


def _dot_model(cfg, ops) -> Outcome:
    r = load("sim.fp8:simulate_dot")(ops[0], ops[1], cfg)
    return Outcome(np.asarray(r.result_bits, np.uint32), int(r.cycles), (), dict(r.events))


def _array_model(cfg, ops) -> Outcome:
    r = load("sim.fp8_array:simulate_gemm")(ops[0], ops[1], cfg)
    return Outcome(np.asarray(r.c_bits), int(r.cycles), tuple(int(c) for c in r.fold_cycles), dict(r.events))


def _dot_config(fmt_a: str = "e4m3", fmt_b: str = "e5m2", addr_bits: int = 5):
    return load("sim.fp8:Fp8MacConfig")(fmt_a, fmt_b, addr_bits)


def _array_config(rows: int = 3, cols: int = 2, fmt_a: str = "e4m3", fmt_b: str = "e5m2", depth: int = 8):
    return load("sim.fp8_array:Fp8ArrayConfig")(rows, cols, fmt_a, fmt_b, depth)


def _golden(module: str, make):
    def golden(seed: int) -> list[Case]:
        return [Case(name, (a, b)) for name, a, b in load(f"{module}:edge_workloads")(make(), seed=seed)]

    return golden


def _cosim(ref: str):
    def run(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
        return load(ref)(list(operands), cfg, sim=sim, seed=seed, **kw)

    return run


ENGINES = [
    Engine(
        name="fp8_mac",
        description="FP8 (e4m3 / e5m2) dot-product unit: exact FP8 x FP8 -> FP32 multiplier, single-cycle IEEE "
        "FP32 adder, sequential accumulation from +0, one MAC per clock (K + 2 cycles)",
        family="fp8",
        config=_dot_config,
        model="sim.fp8:simulate_dot",
        estimate=None,
        rtl_top="fp8_mac",
        rtl_params=lambda cfg: {"FMT_A": load("sim.fp8:get_format")(cfg.fmt_a).code,
                                "FMT_B": load("sim.fp8:get_format")(cfg.fmt_b).code, "AW": cfg.addr_bits},
        pe_top="fp8_mul",
        # the bit-exact comparison needs the sequential order, so the exact emulation is the kernel here
        kernel="kernels.fp8:scaled_fp8_gemm_emulated",
        kernel_reference="kernels.fp8:scaled_fp8_gemm_emulated",
        golden=_golden("sim.fp8", _dot_config),
        crosscheck_config=_dot_config,
        run_model=_dot_model,
        run_kernel=_dot_kernel,
        run_reference=_dot_kernel,
        run_cosim=_cosim("rtl_models.fp8_cosim:run_fp8_dot_cosim_batch"),
        pe_alone=True,
    ),
    Engine(
        name="fp8_os",
        description="R x C output-stationary array of FP8 (e4m3 / e5m2) MACs: exact FP8 x FP8 -> FP32 products, "
        "single-cycle IEEE FP32 accumulation from +0 in order k = 0..K-1 (each output = the fp8_mac dot product), "
        "2R + C + K - 1 cycles per fold",
        family="fp8",
        config=_array_config,
        model="sim.fp8_array:simulate_gemm",
        estimate="sim.fp8_array:estimate_gemm",
        rtl_top="fp8_os_array",
        rtl_params=lambda cfg: cfg.rtl_params,
        pe_top="fp8_os_pe",
        kernel="kernels.fp8:scaled_fp8_gemm_emulated",
        kernel_reference="kernels.fp8:scaled_fp8_gemm_emulated",
        golden=_golden("sim.fp8_array", _array_config),
        crosscheck_config=_array_config,
        run_model=_array_model,
        run_kernel=_array_kernel,
        run_reference=_array_kernel,
        run_cosim=_cosim("rtl_models.fp8_array_cosim:run_fp8_array_cosim_batch"),
        mac_units=lambda cfg: cfg.rows * cfg.cols,
        pe_alone=True,
    ),
]
