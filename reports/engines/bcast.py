"""2D-matrix (broadcast) grid, INT8 x INT8 -> INT32: a column of A and a row of B broadcast over an
R x C grid each clock, outer products accumulated in place; MAC PE or TPE OPT1 carry-save PE.

Model sim/broadcast.py; RTL bcast_matrix.v; kernel kernels/int8_gemm.py; co-simulation
rtl_models/bcast_cosim.py."""

from __future__ import annotations

from reports.engine import GAUSSIAN, Engine, Priced, Sizing, gaussian_int8, load
from reports.engines._common import gemm_benchmark, gemm_model, int8_golden, int8_kernel, int8_reference

ORDER = 40
PES = {"mac": "MAC PEs", "booth_csa": "OPT1 carry-save PEs"}


def _energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
    from reports import cost

    if cfg.pe == "booth_csa":
        return cost.csa_pe_event_energy("bcast", sram_key=sram_key)
    return cost.bcast_event_energy(sram_key)


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.bcast_cosim:run_bcast_cosim_batch")(list(operands), cfg, sim=sim, seed=seed, **kw)


def _toggles(pe: str):
    """The whole grid's netlist (grid x grid) on Gaussian INT8 operands, K = 32."""

    def run(sizes, progress=None) -> dict[str, float]:
        from reports import toggles

        a, b = gaussian_int8((sizes.grid, 32), (32, sizes.grid))
        return {GAUSSIAN: toggles.bcast_toggle_energy(pe, a, b, progress=progress)}

    return run


def _engine(name: str, pe: str, pe_top: str, pe_name: str) -> Engine:
    def make(rows: int = 4, cols: int = 4):
        return load("sim.broadcast:BroadcastConfig")(rows, cols, pe)

    return Engine(
        name=name,
        description="INT8 x INT8 -> INT32 2D-matrix (broadcast) engine: a column of A and a row of B broadcast "
        f"over an R x C grid each clock, outer products accumulated in place, {pe_name}",
        family="bcast",
        config=make,
        model="sim.broadcast:simulate_gemm",
        estimate="sim.broadcast:estimate_gemm",
        rtl_top="bcast_matrix",
        rtl_params=lambda cfg: load("rtl_models.bcast_cosim:rtl_params")(cfg),
        pe_top=pe_top,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        golden=int8_golden("sim.broadcast:edge_workloads"),
        crosscheck_config=make,
        run_model=gemm_model("sim.broadcast:simulate_gemm"),
        run_kernel=int8_kernel,
        run_reference=int8_reference,
        run_cosim=_cosim,
        mac_units=lambda c: c.rows * c.cols,
        sizing=Sizing(config=lambda arch: make(arch.array_height, arch.array_width), slots_event="mac_slots",
                      sram_events=("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes"),
                      note="H x W grid"),
        event_energy=_energy,
        priced=lambda s: [Priced(f"{name}_{s.grid}x{s.grid}", make(s.grid, s.grid),
                                 f"2D-matrix (broadcast) grid, {s.grid}x{s.grid} {PES[pe]}")],
        pe_in_cost_table=False,
        toggle_energy=_toggles(pe),
        tables=dict.fromkeys(["tpe"]),
        benchmark=(lambda: (make(16, 16), gemm_benchmark())) if pe == "mac" else None,
    )


ENGINES = [
    _engine("bcast", "mac", "mac_pe", "baseline MAC PE"),
    _engine("bcast_csa", "booth_csa", "booth_csa_pe", "TPE OPT1 carry-save PE, read-out add pipelined"),
]
