"""Systolic arrays: INT8 x INT8 -> INT32 GEMM on an R x C grid, output- (OS) or weight-stationary
(WS), with the baseline MAC PE or the TPE OPT1 carry-save PE, and the OS array with narrow
weights (INT4 / INT2 x INT8, weight-only low-bit).

Model sim/systolic.py; RTL os_systolic_array.v / ws_systolic_array.v (PE_KIND 1: OPT1, B_W the
weight width); kernel kernels/int8_gemm.py; co-simulation rtl_models/systolic_cosim.py."""

from __future__ import annotations

from reports.engine import GAUSSIAN, Engine, Priced, Sizing, gaussian_int8, load
from reports.engines._common import gemm_model, int8_golden, int8_kernel, int8_reference, narrow_b

ORDER = 10  # first in listings and the cost table
SRAM_EVENTS = ("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes")
LONG = {"os": "output-stationary", "ws": "weight-stationary"}


def _config(dataflow: str, pe: str, b_bits: int):
    def make(rows: int = 4, cols: int = 4):
        return load("sim.systolic:SystolicConfig")(rows, cols, dataflow, b_bits=b_bits, pe=pe)

    return make


def _rtl_params(cfg) -> dict:
    params = {"R": cfg.rows, "C": cfg.cols, "A_W": cfg.a_bits, "B_W": cfg.b_bits, "ACC_W": cfg.acc_bits}
    if cfg.pe == "booth_csa":
        params["PE_KIND"] = 1
    return params


def _pe_params(cfg) -> dict:
    return {"A_W": cfg.a_bits, "B_W": cfg.b_bits, "ACC_W": cfg.acc_bits}


def _energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
    from reports import cost

    if cfg.pe == "booth_csa":
        return cost.csa_pe_event_energy(cfg.dataflow, cfg.acc_bits, cfg.b_bits, sram_key)
    return cost.int_gemm_event_energy(cfg.a_bits, cfg.b_bits, cfg.acc_bits, sram_key)


def _toggles(dataflow: str, pe: str):
    """OS: the PE alone (mac_pe / booth_csa_pe) on operand streams of uniform, Gaussian and
    all-MiniLM-L6-v2 INT8 data; WS: a whole toggle_array x toggle_array array (flip-flop buffers
    of depth 16 included), its partial sums through the PEs, on Gaussian INT8."""

    def run(sizes, progress=None) -> dict[str, float]:
        from reports import toggles

        if dataflow == "os":
            return {data: toggles.pe_toggle_energy(pe, a, b, data, progress=progress).pj_per_mac
                    for data, (a, b) in toggles.operand_streams(lanes=32, k=48).items()}
        e = sizes.toggle_array
        a, w = gaussian_int8((16, e), (e, e))
        return {GAUSSIAN: toggles.ws_array_toggle_energy(pe, a, w, depth=16, progress=progress)}

    return run


# rtl_models.systolic_cosim's drivers: its bench-side host (the default), the Python port driver, the
# host under an HDL-only bench (the simulator alone)
COSIM_DRIVERS = ("host", "ports", "native")


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.systolic_cosim:run_cosim_batch")(list(operands), cfg.rows, cfg.cols, cfg.dataflow,
                                                             sim=sim, seed=seed, b_bits=cfg.b_bits, pe=cfg.pe, **kw)


def _engine(name: str, dataflow: str, pe_top: str, description: str, pe: str = "mac", b_bits: int = 8,
            tables: dict | None = None) -> Engine:
    make = _config(dataflow, pe, b_bits)
    golden = int8_golden("sim.workloads:edge_workloads")
    return Engine(
        name=name,
        description=description,
        family="systolic",
        config=make,
        model="sim.systolic:simulate_gemm",
        estimate="sim.systolic:estimate_gemm",
        rtl_top=f"{dataflow}_systolic_array",
        rtl_params=_rtl_params,
        pe_top=pe_top,
        pe_params=_pe_params,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        golden=golden if b_bits == 8 else narrow_b(golden, b_bits),
        crosscheck_config=lambda: make(4, 4),
        run_model=gemm_model("sim.systolic:simulate_gemm"),
        run_kernel=int8_kernel,
        run_reference=int8_reference,
        run_cosim=_cosim,
        cosim_drivers=COSIM_DRIVERS,
        sizing=Sizing(config=lambda arch: make(arch.array_height, arch.array_width),
                      slots_event="mac_slots", sram_events=SRAM_EVENTS,
                      note=f"{dataflow.upper()} array H x W"),
        mac_units=lambda c: c.pes,
        event_energy=_energy,
        priced=lambda s: [Priced(f"{name}_{s.rows}x{s.cols}", make(s.rows, s.cols))],
        toggle_energy=_toggles(dataflow, pe) if b_bits == 8 else None,
        tables=tables or {},
    )


OPT1_OS = "carry-save accumulation PE (TPE OPT1: Booth partial products and (sum, carry) in one compressor tree)"
OPT1_WS = ("TPE OPT1 PE: partial sums travel down the columns as (sum, carry) pairs through each PE's compressor "
           "tree, one add below the bottom row")

ENGINES = [
    _engine("os", "os", "mac_pe", f"INT8 x INT8 -> INT32 {LONG['os']} systolic array, baseline MAC PE",
            tables=dict.fromkeys(["lowbit", "memory"])),
    _engine("ws", "ws", "ws_mac_pe", f"INT8 x INT8 -> INT32 {LONG['ws']} systolic array, baseline MAC PE",
            tables=dict.fromkeys(["memory"])),
    _engine("os_csa", "os", "booth_csa_pe", f"INT8 x INT8 -> INT32 {LONG['os']} systolic array, {OPT1_OS}",
            pe="booth_csa"),
    _engine("ws_csa", "ws", "ws_csa_pe", f"INT8 x INT8 -> INT32 {LONG['ws']} systolic array, {OPT1_WS}",
            pe="booth_csa"),
] + [
    _engine(f"os_w{bits}a8", "os", "mac_pe", f"INT8 x INT{bits} -> INT32 output-stationary systolic array "
            "(weight-only low-bit)", b_bits=bits, tables=dict.fromkeys(["lowbit", "memory"]))
    for bits in (4, 2)
]
