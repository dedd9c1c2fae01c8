"""Co-simulate the systolic arrays (rtl_models/verilog/os_systolic_array.v, ws_systolic_array.v)
under cocotb on Icarus or Verilator: a binding of rtl_models.cosim.

    from rtl_models.systolic_cosim import run_cosim
    res = run_cosim(a_int8, b_int8, rows=4, cols=4, dataflow="ws", sim="verilator")
    res.values, res.fold_cycles, res.cycles, res.build_dir, res.wave_file   # values: C, int32

A job runs through the arrays' bench-side host (systolic_host.v, with its own clock in
systolic_host_clocked.v; bench rtl_models/benches/systolic_host_bench.py): the bench writes A, B
and the fold table as memory images once per workload and the host streams them through the
array's ports inside the simulator, so Python acts per workload, not per clock edge. With driver="ports" the array is
driven edge by edge by rtl_models/benches/systolic_bench.py instead. Either way the bench checks every fold's cycles and every C against sim.systolic. DEPTH (operand/output buffer
depth) is the next power of two >= the longest streamed length t, at least 4, so a handful of
builds serve every shape; the host's image sizes grow the same way from a floor (HOST_MIN_AW).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from rtl_models.cosim import Binding, CosimOutcome, buffer_depth, check_int8_operands, cosim_batch
from sim.systolic import SystolicConfig

BENCH_MODULE = "rtl_models.benches.systolic_bench"
HOST_BENCH_MODULE = "rtl_models.benches.systolic_host_bench"
DATAFLOWS = ("os", "ws")
HOST_TOP = "systolic_host"  # both dataflows' bench-side host (its DATAFLOW parameter picks the array)
# the host with its own clock (systolic_host_clocked.v): what the cocotb host bench runs, so no clock
# edge passes through Python or VPI
HOST_CLOCKED_TOP = "systolic_host_clocked"
TOPLEVELS = {"os": "os_systolic_array", "ws": "ws_systolic_array"}  # the arrays (the port driver's tops)
# address bits of the host's images (A, B, C, fold table): at least these, so small jobs share a
# build; a larger job gets the next power of two it needs
HOST_MIN_AW = {"A_AW": 14, "B_AW": 14, "C_AW": 12, "F_AW": 10}
# INT8 x INT8 -> INT32: the widths the RTL is built with and the cycle model is configured with
# (B_BITS is the default; run_cosim_batch's b_bits narrows the weights for the low-bit MAC arrays)
A_BITS, B_BITS, ACC_BITS = 8, 8, 32
PE_KINDS = {"mac": 0, "booth_csa": 1}  # sim.systolic's PE names -> os_systolic_array's PE_KIND


def _array_params(cfg: SystolicConfig, workloads) -> dict[str, int]:
    # t of a fold: K for OS (the whole reduction streams), M for WS (all activation rows stream)
    t_max = max(a.shape[1] if cfg.dataflow == "os" else a.shape[0] for a, _ in workloads)
    params = {"R": cfg.rows, "C": cfg.cols, "A_W": cfg.a_bits, "B_W": cfg.b_bits, "ACC_W": cfg.acc_bits,
              "DEPTH": buffer_depth(t_max)}
    if cfg.pe != "mac":  # only then, so the baseline's build folders keep their names
        params["PE_KIND"] = PE_KINDS[cfg.pe]
    return params


def _host_params(cfg: SystolicConfig, workloads) -> dict[str, int]:
    return {"DATAFLOW": DATAFLOWS.index(cfg.dataflow)} | _array_params(cfg, workloads) | \
        host_address_bits(cfg, workloads)


def host_address_bits(cfg: SystolicConfig, workloads) -> dict[str, int]:
    """The systolic_host image sizes (address bits) that hold every workload of a job
    (rtl_models.benches.systolic_host_bench.images lays them out)."""
    r, c = cfg.rows, cfg.cols
    need = {"A_AW": 1, "B_AW": 1, "C_AW": 1, "F_AW": 1}
    for a, b in workloads:
        (m, k), n = a.shape, b.shape[1]
        mt, nt, kt = -(-m // r), -(-n // c), -(-k // r)
        if cfg.dataflow == "os":
            words = {"A_AW": mt * k, "B_AW": nt * k, "C_AW": mt * nt * r, "F_AW": mt * nt}
        else:
            words = {"A_AW": kt * m, "B_AW": nt * kt * r, "C_AW": nt * m, "F_AW": nt * kt}
        need = {name: max(need[name], words[name]) for name in need}
    return {name: max(HOST_MIN_AW[name], (words - 1).bit_length()) for name, words in need.items()}


def _check_workload(cfg: SystolicConfig, a, b) -> tuple[np.ndarray, np.ndarray]:
    check_int8_operands(a, b)
    lo, hi = -(2 ** (cfg.b_bits - 1)), 2 ** (cfg.b_bits - 1) - 1
    if b.min() < lo or b.max() > hi:
        raise ValueError(f"b holds values outside the signed {cfg.b_bits}-bit range [{lo}, {hi}] "
                         f"(min {b.min()}, max {b.max()})")
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


BINDING = Binding(top=HOST_CLOCKED_TOP, bench=HOST_BENCH_MODULE, params=_host_params, config=SystolicConfig,
                  check_case=_check_workload, case_doc="(a, b) pair of int8 matrices", dtype=np.int32,
                  ports_only=True, timing=True)
# the arrays without the host, driven edge by edge from Python (systolic_bench.py's port driver):
# the same checks at a fraction of the speed on long workloads; kept as the benchmark's baseline
# and as a second driver of the arrays' ports
PORT_DRIVER_BINDING = dataclasses.replace(BINDING, top=lambda cfg: TOPLEVELS[cfg.dataflow], bench=BENCH_MODULE,
                                          params=_array_params, ports_only=False, timing=False)
DRIVERS = {"host": BINDING, "ports": PORT_DRIVER_BINDING}
# the host under an HDL-only bench, no cocotb (rtl_models/native_host.py): the simulator's own speed
NATIVE = "native"


def run_cosim(a, b, rows: int, cols: int, dataflow: str, sim: str = "icarus", waves: bool = False,
              seed: int = 0, build_root: str | os.PathLike | None = None, b_bits: int = B_BITS,
              pe: str = "mac", driver: str = "host") -> CosimOutcome:
    """C = A @ B on a ``rows`` x ``cols`` systolic array in RTL; see :func:`run_cosim_batch`."""
    return run_cosim_batch([(a, b)], rows, cols, dataflow, sim=sim, waves=waves, seed=seed,
                           build_root=build_root, b_bits=b_bits, pe=pe, driver=driver)[0]


def run_cosim_batch(workloads, rows: int, cols: int, dataflow: str, sim: str = "icarus",
                    waves: bool = False, seed: int = 0,
                    build_root: str | os.PathLike | None = None, b_bits: int = B_BITS,
                    pe: str = "mac", driver: str = "host") -> list[CosimOutcome]:
    """Co-simulate several (a, b) int8 workloads in one simulator run, in order.

    ``b_bits`` is the weight (B operand) width: the Verilog's B_W and SystolicConfig.b_bits.
    The default 8 is the INT8 x INT8 array; 2..7 give the low-bit MAC arrays (INT4 / INT2 weights
    x INT8 activations), whose b values, still held in int8 arrays, must fit signed b_bits.
    ``pe`` picks the processing element (sim.systolic.PES): "mac", or "booth_csa" (the OPT1
    carry-save PE; in the WS array partial sums travel as (sum, carry) pairs: the Verilog's PE_KIND = 1).
    ``driver``: "host" (the default: the job runs through systolic_host.v, which streams the
    operands from memory images inside the simulator) or "ports" (Python drives the array's ports
    edge by edge), or "native" (the host under an HDL-only bench with no cocotb and no Python in
    the simulation, rtl_models/native_host.py: the same checks, the simulator's own speed; no
    waves).
    """
    for name, value in (("rows", rows), ("cols", cols)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    if isinstance(b_bits, bool) or not isinstance(b_bits, (int, np.integer)) or not 2 <= b_bits <= B_BITS:
        raise ValueError(f"b_bits must be an integer weight width in 2..{B_BITS}, got {b_bits!r}")
    if pe not in PE_KINDS:
        raise ValueError(f"pe must be one of {tuple(PE_KINDS)}, got {pe!r}")
    if driver not in (*DRIVERS, NATIVE):
        raise ValueError(f"driver must be one of {(*DRIVERS, NATIVE)}, got {driver!r}")
    cfg = SystolicConfig(int(rows), int(cols), dataflow, a_bits=A_BITS, b_bits=int(b_bits), acc_bits=ACC_BITS, pe=pe)
    if driver == NATIVE:
        return _native(workloads, cfg, sim, waves, seed, build_root)
    return cosim_batch(DRIVERS[driver], workloads, cfg, sim=sim, seed=seed, waves=waves, build_root=build_root)


def _native(workloads, cfg: SystolicConfig, sim: str, waves, seed, build_root) -> list[CosimOutcome]:
    """driver="native": the same argument checks as cosim_batch, then rtl_models.native_host."""
    from rtl_models import native_host
    from rtl_models.cosim import SIMULATORS, CosimError, _check_cases, simulator_missing

    if waves is not False:
        raise ValueError("waves: the native driver keeps no waveform; use driver='host' (or 'ports') for waves")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, got {sim!r}")
    cases = _check_cases(BINDING, workloads, cfg)
    reason = simulator_missing(sim)
    if reason:
        raise CosimError(reason)
    return native_host.run_batch(cfg, cases, sim=sim, params=_host_params(cfg, cases), build_root=build_root)
