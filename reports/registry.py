"""The engine registry: one entry names a family's trio (cycle model, RTL top, GPU kernel).

The cross-checks, the co-simulation CLI, the benchmarks and the report find engines here, so a
new family is added by adding its files and one entry below, not by editing each consumer.
Kernels and RTL are named as strings ("module:attribute") and imported on use, so this module
imports on a GPU machine that has no RTL tools and on a CPU machine that has no GPU.
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


@dataclass(frozen=True)
class Engine:
    """One engine variant: how to configure its model, which Verilog top implements it, and
    which GPU kernel computes the same arithmetic."""

    name: str
    description: str
    make_config: Callable[..., Any]  # (rows, cols) -> model config
    model: str  # "module:function(a, b, config) -> GemmResult"
    estimate: str  # "module:function(M, N, K, config) -> cycles and events without the product"
    rtl_top: str  # Verilog module in rtl_models/verilog/
    rtl_params: Callable[..., dict]  # (config) -> Verilog parameters
    rtl_pe_top: str  # its processing element alone, for the synthesis table
    kernel: str  # "module:function(a, b) -> C" on torch tensors
    kernel_reference: str
    workloads: str  # "module:function(seed) -> [(name, a, b)]"

    def config(self, rows: int, cols: int):
        return self.make_config(rows, cols)


def _systolic_params(cfg: SystolicConfig) -> dict:
    return {"R": cfg.rows, "C": cfg.cols, "A_W": cfg.a_bits, "B_W": cfg.b_bits, "ACC_W": cfg.acc_bits}


def _systolic_engine(dataflow: str, long_name: str, pe_top: str) -> Engine:
    return Engine(
        name=dataflow,
        description=f"INT8 x INT8 -> INT32 {long_name} systolic array, baseline MAC PE",
        make_config=lambda rows, cols: SystolicConfig(rows, cols, dataflow),
        model="sim.systolic:simulate_gemm",
        estimate="sim.systolic:estimate_gemm",
        rtl_top=f"{dataflow}_systolic_array",
        rtl_params=_systolic_params,
        rtl_pe_top=pe_top,
        kernel="kernels.int8_gemm:int8_gemm",
        kernel_reference="kernels.int8_gemm:int8_gemm_reference",
        workloads="sim.workloads:edge_workloads",
    )


ENGINES: dict[str, Engine] = {
    "os": _systolic_engine("os", "output-stationary", "mac_pe"),
    "ws": _systolic_engine("ws", "weight-stationary", "ws_mac_pe"),
}


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; registered engines: {', '.join(sorted(ENGINES))}") from None
