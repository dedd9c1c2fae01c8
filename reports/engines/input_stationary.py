"""Input-stationary (IS) systolic array, SCALE-Sim's third dataflow: INT8 x INT8 -> INT32 GEMM with
the input operand A held in the PEs (array rows = K, columns = rows of A) while B's N columns
stream through and partial sums flow down the columns; each fold writes a C^T tile. An IS array
is a WS array whose stationary operand is the input: the model and the Verilog reuse the WS ones
on the transposed problem (C^T = B^T A^T), and the cycles per fold are 2R + C + N - 2.

Model sim/input_stationary.py; RTL is_systolic_array.v (around ws_systolic_array); kernel
kernels/int8_gemm.py; co-simulation rtl_models/is_cosim.py."""

from __future__ import annotations

from reports.engine import Engine, Priced, Sizing, load
from reports.engines._common import gemm_model, int8_golden, int8_kernel, int8_reference

ORDER = 15  # beside the OS and WS arrays


def _config(rows: int = 4, cols: int = 4):
    return load("sim.input_stationary:ISConfig")(rows, cols)


def _energy(cfg, sram_key: str = "sram_32kb_read_64bit") -> tuple:
    from reports import cost

    # the same events as the WS array's MAC PE, A's counted as the stationary operand's
    return cost.int_gemm_event_energy(cfg.a_bits, cfg.b_bits, cfg.acc_bits, sram_key)


def _cosim(cfg, operands, sim: str = "icarus", seed: int = 0, **kw) -> list:
    return load("rtl_models.is_cosim:run_is_cosim_batch")(list(operands), cfg, sim=sim, seed=seed, **kw)


ENGINES = [
    Engine(
        name="is",
        description="INT8 x INT8 -> INT32 input-stationary systolic array, baseline MAC PE (A held in the PEs, "
        "B streamed, 2R + C + N - 2 cycles per fold)",
        family="input_stationary",
        config=_config,
        model="sim.input_stationary:simulate_gemm",
        estimate="sim.input_stationary:estimate_gemm",
        rtl_top="is_systolic_array",
        rtl_params=lambda cfg: {"R": cfg.rows, "C": cfg.cols, "A_W": cfg.a_bits, "B_W": cfg.b_bits,
                                "ACC_W": cfg.acc_bits},
        pe_top="ws_mac_pe",
        # the PE holds A (its stationary "weight" port) and passes B (its streamed port)
        pe_params=lambda cfg: {"A_W": cfg.b_bits, "B_W": cfg.a_bits, "ACC_W": cfg.acc_bits},
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        golden=int8_golden("sim.input_stationary:edge_workloads"),
        crosscheck_config=_config,
        run_model=gemm_model("sim.input_stationary:simulate_gemm"),
        run_kernel=int8_kernel,
        run_reference=int8_reference,
        run_cosim=_cosim,
        mac_units=lambda cfg: cfg.pes,
        sizing=Sizing(config=lambda arch: _config(arch.array_height, arch.array_width), slots_event="mac_slots",
                      sram_events=("a_buffer_reads_bytes", "b_buffer_reads_bytes", "out_buffer_writes_bytes"),
                      note="IS array H x W"),
        event_energy=_energy,
        priced=lambda s: [Priced(f"is_{s.rows}x{s.cols}", _config(s.rows, s.cols))],
        tables=dict.fromkeys(["memory"]),
    ),
]
