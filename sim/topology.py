"""SCALE-Sim inputs: a network's topology CSV and an architecture .cfg, as GEMMs and array configs.

So that a SCALE-Sim user can run the same files through our engines:

* topology CSV, convolution form (SCALE-Sim's default), one layer a row, each row ending in a
  comma: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides[, Stride width],``. A layer is the GEMM of im2col:
  M = ofmap pixels (ceil((H - R + s) / s) in each direction), N = filters, K = R * S * C.
  Layers whose name contains ``DP`` are depthwise: SCALE-Sim runs one single-channel GEMM per
  channel, which we keep as ``repeat`` = channels.
* topology CSV, GEMM form (SCALE-Sim's ``-i gemm``): ``Layer, M, N, K,``.
* architecture .cfg: ``[architecture_presets]`` ``ArrayHeight``, ``ArrayWidth``, ``Dataflow``
  (``os`` or ``ws``: the input-stationary dataflow is not modelled here), and the SRAM sizes,
  which are read and reported but not simulated: our models assume operands arrive in time, so
  they report no stall cycles (SCALE-Sim's stalls come from its SRAM/DRAM bandwidth model).
"""

from __future__ import annotations

import configparser
import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sim.systolic import SystolicConfig


@dataclass(frozen=True)
class Layer:
    """One topology row as a GEMM C[M x N] = A[M x K] @ B[K x N], run ``repeat`` times."""

    name: str
    m: int
    n: int
    k: int
    repeat: int = 1

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k * self.repeat


@dataclass(frozen=True)
class ArchConfig:
    """The part of a SCALE-Sim architecture config our models use, plus the SRAM sizes as read."""

    array_height: int
    array_width: int
    dataflow: str
    ifmap_sram_kb: int | None = None
    filter_sram_kb: int | None = None
    ofmap_sram_kb: int | None = None

    def systolic(self) -> SystolicConfig:
        return SystolicConfig(self.array_height, self.array_width, self.dataflow)


def _int_field(value: str, what: str, where: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {value.strip()!r}") from None
    if number < 1:
        raise ValueError(f"{where}: {what} must be >= 1, got {number}")
    return number


def read_topology(path: str | Path) -> list[Layer]:
    """Layers of a SCALE-Sim topology CSV (convolution or GEMM form, told apart by the header)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"topology file {path} does not exist")
    with path.open(newline="") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f)]
    rows = [row[:-1] if row and row[-1] == "" else row for row in rows if any(cell for cell in row)]
    if not rows:
        raise ValueError(f"{path}: empty topology file")
    header = [h.lower() for h in rows[0]]
    gemm_form = len(header) >= 4 and header[1:4] == ["m", "n", "k"]
    layers = []
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path.name} line {line}"
        if gemm_form:
            if len(row) < 4:
                raise ValueError(f"{where}: a GEMM row needs Layer, M, N, K; got {row}")
            m, n, k = (_int_field(v, c, where) for v, c in zip(row[1:4], "MNK"))
            layers.append(Layer(row[0], m, n, k))
            continue
        if len(row) < 8:
            raise ValueError(
                f"{where}: a convolution row needs Layer name, IFMAP Height, IFMAP Width, Filter Height, "
                f"Filter Width, Channels, Num Filter, Strides; got {len(row)} fields"
            )
        names = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")
        ih, iw, fh, fw, ch, nf, sh = (_int_field(v, c, where) for v, c in zip(row[1:8], names))
        sw = _int_field(row[8], "Stride width", where) if len(row) > 8 and row[8] else sh
        if fh > ih or fw > iw:
            raise ValueError(f"{where}: filter {fh}x{fw} is larger than the input {ih}x{iw}")
        oh, ow = math.ceil((ih - fh + sh) / sh), math.ceil((iw - fw + sw) / sw)
        if "DP" in row[0]:
            layers.append(Layer(row[0], oh * ow, nf, fh * fw, repeat=ch))
        else:
            layers.append(Layer(row[0], oh * ow, nf, fh * fw * ch))
    if not layers:
        raise ValueError(f"{path}: no layers after the header")
    return layers


def read_arch_config(path: str | Path) -> ArchConfig:
    """The array size, dataflow and SRAM sizes of a SCALE-Sim .cfg file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    parser = configparser.ConfigParser()
    parser.optionxform = str.lower  # SCALE-Sim's keys are CamelCase; match them case-blind
    parser.read(path)
    section = "architecture_presets"
    if not parser.has_section(section):
        raise ValueError(f"{path}: no [{section}] section (SCALE-Sim's array configuration)")
    arch = parser[section]

    def number(key: str, required: bool = True) -> int | None:
        if key.lower() not in arch:
            if required:
                raise ValueError(f"{path}: [{section}] has no {key}")
            return None
        return _int_field(arch[key.lower()], key, f"{path} [{section}]")

    dataflow = arch.get("dataflow", "").strip().lower()
    if dataflow not in ("os", "ws"):
        raise ValueError(
            f"{path}: Dataflow must be 'os' or 'ws' (input-stationary is not modelled), got {dataflow!r}"
        )
    return ArchConfig(
        number("ArrayHeight"), number("ArrayWidth"), dataflow,
        number("IfmapSramSzkB", False), number("FilterSramSzkB", False), number("OfmapSramSzkB", False),
    )
