"""The engine registry: one entry names a family's trio (cycle model, RTL top, GPU kernel).

The cross-checks, the co-simulation CLI, the benchmarks and the report find engines here, so a
new family is added by adding its files and one entry below, not by editing each consumer.
Kernels and RTL are named as strings ("module:attribute") and imported on use, so this module
imports on a GPU machine that has no RTL tools and on a CPU machine that has no GPU.

Each entry carries a ``family``; the call signatures of its named functions are those of its
family (FAMILIES below). Consumers that speak one family's signatures ask for that family
(``engines("int_gemm_array")``): today the three-way GEMM cross-check, ``bitweight cosim`` and
the report speak ``int_gemm_array``, and the FWHT and LUT families are cross-checked by their
own test files (tests/test_rtl_fwht.py, tests/test_rtl_lut.py) through the entries' names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from sim.systolic import SystolicConfig


def load(ref: str) -> Any:
    """Import "package.module:attribute"."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


FAMILIES: dict[str, str] = {
    "int_gemm_array": "make_config(rows, cols); model(a, b, config) -> GemmResult; "
    "estimate(M, N, K, config); kernel(a, b) -> C on torch tensors; workloads(seed) -> [(name, a, b)]; "
    "cosim(workloads [(a, b)], rows, cols, dataflow, sim=, seed=) -> [CosimResult]",
    "fwht": "make_config(n, in_bits); model(x (B, n), config) -> FwhtResult; estimate(config, B) -> events; "
    "kernel(x) along the last dim; workloads(n, in_bits, seed) -> [(name, x)]; "
    "cosim(x_int, n, sim=, ...) -> results",
    "digit_skip_gemm": "make_config(cols, encoding); model(a, b, config) -> result with per-fold, "
    "data-dependent cycles; no data-free estimate (cycles depend on the digits); kernel(a, b) -> C; "
    "workloads(seed) -> [(name, a, b)]; cosim(workloads [(a, b)], config, sim=, seed=)",
    "fp8_mac": "make_config(fmt_a, fmt_b, addr_bits); model(a_codes, b_codes, config) -> result bits, cycles, "
    "events; estimate(K) -> events (cycles K + 2); kernel(a_fp8, b_fp8, scale_a, scale_b) -> fp32; "
    "workloads(config, seed) -> [(name, a_codes, b_codes)]; cosim(workloads, config, sim=, seed=); "
    "arrays: make_config(rows, cols, fmt_a, fmt_b, depth), estimate(M, N, K, config) -> cycles and events per fold",
    "lut_gemm": "make_config(exp_bits); model(x, packed, exps, group_size, config); "
    "estimate(...) without the product; kernel(x, packed, exps, group_size); "
    "workloads(seed) -> [(name, operands)]; cosim(list of operands, sim=, seed=)",
    "tree_gemm": "make_config(k, n); model(a, b, config) -> TreeResult (c, cycles, fold_cycles, events); "
    "estimate(M, N, K, config); kernel(a, b) -> C on torch tensors; workloads(seed) -> [(name, a, b)]; "
    "cosim(workloads [(a, b)], config, sim=, seed=) -> [TreeCosimResult]",
    "bcast_gemm": "make_config(rows, cols); model(a, b, config) -> BroadcastResult (c, cycles, fold_cycles, events); "
    "estimate(M, N, K, config); kernel(a, b) -> C on torch tensors; workloads(seed) -> [(name, a, b)]; "
    "cosim(workloads [(a, b)], config, sim=, seed=) -> [BcastCosimResult]",
}


@dataclass(frozen=True)
class Engine:
    """One engine variant: how to configure its model, which Verilog top implements it, and
    which GPU kernel computes the same arithmetic (signatures: FAMILIES[family])."""

    name: str
    description: str
    family: str
    make_config: Callable[..., Any]  # -> the model's config
    model: str  # "module:function" computing the exact result, cycles and events
    estimate: str | None  # "module:function": cycles and events without the result (None: data-dependent)
    rtl_top: str  # Verilog module in rtl_models/verilog/
    rtl_params: Callable[..., dict]  # (config) -> Verilog parameters
    rtl_pe_top: str  # its processing element alone, for the synthesis table
    kernel: str  # "module:function" on torch tensors
    kernel_reference: str
    workloads: str  # "module:function": the golden tensors all three implementations take
    cosim: str  # "module:function": the RTL co-simulation (cocotb), batched

    def config(self, *args, **kwargs):
        return self.make_config(*args, **kwargs)


def _systolic_params(cfg: SystolicConfig) -> dict:
    params = {"R": cfg.rows, "C": cfg.cols, "A_W": cfg.a_bits, "B_W": cfg.b_bits, "ACC_W": cfg.acc_bits}
    if cfg.pe == "booth_csa":
        params["PE_KIND"] = 1
    return params


def _systolic_engine(dataflow: str, long_name: str, pe_top: str, pe: str = "mac", name: str | None = None,
                     pe_name: str = "baseline MAC PE") -> Engine:
    return Engine(
        name=name or dataflow,
        description=f"INT8 x INT8 -> INT32 {long_name} systolic array, {pe_name}",
        family="int_gemm_array",
        make_config=lambda rows, cols: SystolicConfig(rows, cols, dataflow, pe=pe),
        model="sim.systolic:simulate_gemm",
        estimate="sim.systolic:estimate_gemm",
        rtl_top=f"{dataflow}_systolic_array",
        rtl_params=_systolic_params,
        rtl_pe_top=pe_top,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.workloads:edge_workloads",
        cosim="rtl_models.runner:run_cosim_batch",
    )


def _tree_engine(name: str, pe: str, cube: bool, technique: str) -> Engine:
    shape = ("3D-cube (N x N x N multipliers: N rows of A per clock against an N x N tile of B, one "
             "dot-product unit per output)" if cube else
             "multiplier-adder tree engine (K x N tile of B in registers, one row of A per clock, partial sums "
             "from the output buffer)")
    defaults = (4, 4) if cube else (16, 4)
    return Engine(
        name=name,
        description=f"INT8 x INT8 -> INT32 {shape}, {technique}",
        family="tree_gemm",
        make_config=lambda k=defaults[0], n=defaults[1]: load("sim.adder_tree:TreeConfig")(
            k, n, pe, rows=k if cube else 1),
        model="sim.adder_tree:simulate_gemm",
        estimate="sim.adder_tree:estimate_gemm",
        rtl_top="tree_gemm",
        rtl_params=lambda cfg: load("rtl_models.tree_gemm_cosim:rtl_params")(cfg),
        rtl_pe_top="add_tree",
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.adder_tree:edge_workloads",
        cosim="rtl_models.tree_gemm_cosim:run_tree_cosim_batch",
    )


def _bcast_engine(name: str, pe: str, pe_top: str, pe_name: str) -> Engine:
    return Engine(
        name=name,
        description="INT8 x INT8 -> INT32 2D-matrix (broadcast) engine: a column of A and a row of B broadcast "
        f"over an R x C grid each clock, outer products accumulated in place, {pe_name}",
        family="bcast_gemm",
        make_config=lambda rows=4, cols=4: load("sim.broadcast:BroadcastConfig")(rows, cols, pe),
        model="sim.broadcast:simulate_gemm",
        estimate="sim.broadcast:estimate_gemm",
        rtl_top="bcast_matrix",
        rtl_params=lambda cfg: load("rtl_models.bcast_cosim:rtl_params")(cfg),
        rtl_pe_top=pe_top,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.broadcast:edge_workloads",
        cosim="rtl_models.bcast_cosim:run_bcast_cosim_batch",
    )


ENGINES: dict[str, Engine] = {
    "os": _systolic_engine("os", "output-stationary", "mac_pe"),
    "ws": _systolic_engine("ws", "weight-stationary", "ws_mac_pe"),
    # OPT1 of the TPE paper: the same events as "os" priced by reports/cost.py's csa_pe_event_energy
    "os_csa": _systolic_engine("os", "output-stationary", "booth_csa_pe", pe="booth_csa", name="os_csa",
                               pe_name="carry-save accumulation PE (TPE OPT1: Booth partial products and "
                               "(sum, carry) in one compressor tree)"),
    "ws_csa": _systolic_engine("ws", "weight-stationary", "ws_csa_pe", pe="booth_csa", name="ws_csa",
                               pe_name="TPE OPT1 PE: partial sums travel down the columns as (sum, carry) pairs "
                               "through each PE's compressor tree, one add below the bottom row"),
    "fwht": Engine(
        name="fwht",
        description="Walsh-Hadamard transform on a fully parallel pipelined butterfly network "
        "(n lanes, log2 n registered stages), int8 -> int(8 + log2 n)",
        family="fwht",
        make_config=lambda n, in_bits=8: load("sim.hadamard:FwhtConfig")(n, in_bits),
        model="sim.hadamard:simulate_fwht",
        estimate="sim.hadamard:batch_events",
        rtl_top="fwht_butterfly",
        rtl_params=lambda cfg: {"N": cfg.n, "W": cfg.in_bits},
        rtl_pe_top="fwht_bfly_pe",
        kernel="kernels.hadamard:fwht",
        kernel_reference="kernels.hadamard:hadamard_reference",
        workloads="sim.hadamard:edge_workloads",
        cosim="rtl_models.fwht_cosim:run_fwht_cosim_batch",
    ),
    "opt3": Engine(
        name="opt3",
        description="INT8 x INT8 -> INT32 zero-digit-skipping (TPE OPT3) PE row: EN-T radix-4 digits of A, "
        "one cycle per non-zero digit of a group of 4, columns sharing one digit sequencer",
        family="digit_skip_gemm",
        make_config=lambda cols=4, encoding="ent": load("sim.digit_skip:DigitSkipConfig")(encoding, cols=cols),
        model="sim.digit_skip:simulate_gemm",
        estimate="sim.digit_skip:estimate_gemm",  # expected cycles/events from A's value distribution
        rtl_top="digit_skip_dot",
        rtl_params=lambda cfg: {"ACC_W": cfg.acc_bits, "ENC": {"ent": 0, "booth": 1}[cfg.encoding], "N": cfg.cols},
        rtl_pe_top="digit_skip_pe",
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.workloads:edge_workloads",
        cosim="rtl_models.digit_skip_cosim:run_digit_skip_gemm_cosim_batch",
    ),
    "opt4e": Engine(
        name="opt4e",
        description="INT8 x INT8 -> INT32 TPE OPT4E: 4 zero-digit-skipping sub-PEs (K-extended: 16 consecutive "
        "K elements per chunk) in lock step, sharing one 6:2 carry-save compressor per column; columns share the "
        "4 digit sequencers",
        family="digit_skip_gemm",
        make_config=lambda cols=4, encoding="ent": load("sim.digit_skip_4e:DigitSkip4EConfig")(encoding, cols=cols),
        model="sim.digit_skip_4e:simulate_gemm",
        estimate="sim.digit_skip_4e:estimate_gemm",  # expected cycles/events from A's value distribution
        rtl_top="digit_skip_4e_dot",
        rtl_params=lambda cfg: {"ACC_W": cfg.acc_bits, "ENC": {"ent": 0, "booth": 1}[cfg.encoding], "N": cfg.cols},
        rtl_pe_top="digit_skip_4e_pe",
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.digit_skip_4e:edge_workloads",
        cosim="rtl_models.digit_skip_4e_cosim:run_digit_skip_4e_gemm_cosim_batch",
    ),
    "fp8_mac": Engine(
        name="fp8_mac",
        description="FP8 (e4m3 / e5m2) dot-product unit: exact FP8 x FP8 -> FP32 multiplier, single-cycle IEEE "
        "FP32 adder, sequential accumulation from +0, one MAC per clock (K + 2 cycles)",
        family="fp8_mac",
        make_config=lambda fmt_a="e4m3", fmt_b="e4m3", addr_bits=6: load("sim.fp8:Fp8MacConfig")(fmt_a, fmt_b, addr_bits),
        model="sim.fp8:simulate_dot",
        estimate="sim.fp8:dot_events",
        rtl_top="fp8_mac",
        rtl_params=lambda cfg: {"FMT_A": load("sim.fp8:get_format")(cfg.fmt_a).code,
                                "FMT_B": load("sim.fp8:get_format")(cfg.fmt_b).code, "AW": cfg.addr_bits},
        rtl_pe_top="fp8_mul",
        # the bit-exact comparison needs the sequential order, so the exact emulation is the kernel here; the
        # Triton FP8 GEMM (kernels/fp8_gemm.py) is held to it within an fp32 summation-order bound
        kernel="kernels.fp8:scaled_fp8_gemm_emulated",
        kernel_reference="kernels.fp8:scaled_fp8_gemm_emulated",
        workloads="sim.fp8:edge_workloads",
        cosim="rtl_models.fp8_cosim:run_fp8_dot_cosim_batch",
    ),
    "lut": Engine(
        name="lut",
        description="LUT-based binary-coded GEMM (ShiftAddLLM / LUT-GEMM): int8 activations, up to 4 "
        "sign planes, power-of-two scales as shifts, one 256-entry-table PE",
        family="lut_gemm",
        make_config=lambda exp_bits=4: load("sim.lut_pe:LutPEConfig")(exp_bits=exp_bits),
        model="sim.lut_pe:simulate_lut_gemm",
        estimate="sim.lut_pe:estimate_lut_gemm",
        rtl_top="lut_pe",
        rtl_params=lambda cfg: {},
        rtl_pe_top="lut_pe",
        kernel="kernels.lut_gemm:lut_gemm_pow2",
        kernel_reference="kernels.lut_gemm:lut_gemm_pow2_reference",
        workloads="sim.lut_pe:lut_edge_workloads",
        cosim="rtl_models.lut_cosim:run_lut_cosim_batch",
    ),
    "fp8_os": Engine(
        name="fp8_os",
        description="R x C output-stationary array of FP8 (e4m3 / e5m2) MACs: exact FP8 x FP8 -> FP32 products, "
        "single-cycle IEEE FP32 accumulation from +0 in order k = 0..K-1 (each output = the fp8_mac dot product), "
        "2R + C + K - 1 cycles per fold",
        family="fp8_mac",
        make_config=lambda rows=4, cols=4, fmt_a="e4m3", fmt_b="e4m3", depth=64: load(
            "sim.fp8_array:Fp8ArrayConfig")(rows, cols, fmt_a, fmt_b, depth),
        model="sim.fp8_array:simulate_gemm",
        estimate="sim.fp8_array:estimate_gemm",
        rtl_top="fp8_os_array",
        rtl_params=lambda cfg: cfg.rtl_params,
        rtl_pe_top="fp8_os_pe",
        kernel="kernels.fp8:scaled_fp8_gemm_emulated",
        kernel_reference="kernels.fp8:scaled_fp8_gemm_emulated",
        workloads="sim.fp8_array:edge_workloads",
        cosim="rtl_models.fp8_array_cosim:run_fp8_array_cosim_batch",
    ),
    "lut_array": Engine(
        name="lut_array",
        description="LUT-based binary-coded GEMM on an array: one Gray-code table builder shared by P look-up lanes "
        "(lane l takes output rows l, l+P, ...; one table with P read ports), optionally double-buffered so the "
        "next table build overlaps the look-ups",
        family="lut_gemm",
        make_config=lambda exp_bits=4, lanes=4, double_buffer=True: load("sim.lut_array:LutArrayConfig")(
            lanes=lanes, double_buffer=double_buffer, exp_bits=exp_bits),
        model="sim.lut_array:simulate_lut_array",
        estimate="sim.lut_array:estimate_lut_array",
        rtl_top="lut_array",
        rtl_params=lambda cfg: {"P": cfg.lanes, "DBUF": int(cfg.double_buffer), "EXP_W": cfg.exp_bits},
        rtl_pe_top="lut_array_lane",
        kernel="kernels.lut_gemm:lut_gemm_pow2",
        kernel_reference="kernels.lut_gemm:lut_gemm_pow2_reference",
        workloads="sim.lut_array:lut_array_workloads",
        cosim="rtl_models.lut_array_cosim:run_lut_array_cosim_batch",
    ),
    "mat": _tree_engine("mat", "mult", False, "K multipliers and a balanced adder tree per column"),
    "mat_sbw": _tree_engine("mat_sbw", "sbw", False, "TPE OPT2 same-bit-weight compression: the row Booth-encoded "
                            "once and shared, one narrow tree per digit position and column, shifts and adds"),
    "cube": _tree_engine("cube", "mult", True, "multipliers and an adder tree per unit"),
    "cube_sbw": _tree_engine("cube_sbw", "sbw", True, "TPE OPT2 same-bit-weight compression per unit, digits shared "
                             "along each row"),
    "mat_csa": _tree_engine("mat_csa", "csa", False, "TPE OPT1: the 4K radix-4 Booth partial products, a correction "
                            "word and the partial sum of each column in one carry-save tree, one add at read-out "
                            "(K in 4, 8, 16)"),
    "cube_csa": _tree_engine("cube_csa", "csa", True, "TPE OPT1 per unit: Booth partial products and the partial "
                             "sum in one carry-save tree, the (sum, carry) pair registered, one add at read-out"),
    "bcast": _bcast_engine("bcast", "mac", "mac_pe", "baseline MAC PE"),
    "bcast_csa": _bcast_engine("bcast_csa", "booth_csa", "booth_csa_pe",
                               "TPE OPT1 carry-save PE, read-out add pipelined"),
}


def engines(family: str | None = None) -> dict[str, Engine]:
    """The registered engines, or those of one family."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown engine family {family!r}; families: {', '.join(FAMILIES)}")
    return {k: e for k, e in ENGINES.items() if family is None or e.family == family}


def get_engine(name: str, family: str | None = None) -> Engine:
    found = engines(family)
    try:
        return found[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; registered engines: {', '.join(sorted(found))}") from None
