"""SCALE-Sim inputs: a network's topology CSV and an architecture .cfg, as GEMMs and array configs.

So that a SCALE-Sim user can run the same files through our engines (SCALE-Sim 3.0.0's formats,
as its scalesim/topology_utils.py and scalesim/scale_config.py read them):

* topology CSV, convolution form (SCALE-Sim's default), one layer a row, each row ending in a
  comma: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides[, Sparsity],``. SCALE-Sim 3 always uses ``Strides`` in both directions
  and reads a 9th column as the layer's N:M weight sparsity (``2:4``; default ``1:1``, dense).
  We also keep the older bitweight extension: an integer 9th column is the stride width (then
  a 10th column may hold the sparsity). A layer is the GEMM of im2col: M = ofmap pixels
  (ceil((H - R + s) / s) in each direction), N = filters, K = R * S * C. Layers whose name
  contains ``DP`` are depthwise: SCALE-Sim runs one single-channel GEMM per channel, which we
  keep as ``repeat`` = channels.
* topology CSV, GEMM form (SCALE-Sim's ``-i gemm``): ``Layer, M, N, K[, Sparsity],``.
* N:M sparsity: a dense ratio (N = M, SCALE-Sim's default ``1:1``) is accepted; a sparse one
  (N < M) is refused with a one-line error naming the file, line and field, since none of our
  models skips MACs or compresses the filter; anything that is not ``N:M`` is an error too.
  Nothing is ignored silently.
* architecture .cfg, SCALE-Sim 3's sections and keys (CamelCase, matched case-blind):
  ``[general] run_name``; ``[architecture_presets]`` ``ArrayHeight``, ``ArrayWidth``,
  ``Dataflow`` (``os``, ``ws`` or ``is``: input stationary, the registry's ``is`` engine),
  ``IfmapSramSzkB``, ``FilterSramSzkB``, ``OfmapSramSzkB`` (kB = 1024 bytes), ``Bandwidth``
  (DRAM words per cycle; a comma list, of which SCALE-Sim uses the first), ``IfmapOffset``,
  ``FilterOffset``, ``OfmapOffset``, ``MemoryBanks``, ``ReadRequestBuffer``,
  ``WriteRequestBuffer``, ``OnChipMemoryBanks``, ``OnChipMemoryBankPorts``; ``[layout]``
  ``IfmapCustomLayout``, ``FilterCustomLayout``, ``{Ifmap,Filter}SRAMBank{Bandwidth,Num,Port}``;
  ``[sparsity]`` ``SparsitySupport``, ``SparseRep``, ``OptimizedMapping``, ``BlockSize``,
  ``RandomNumberGeneratorSeed``; ``[run_presets]`` ``InterfaceBandwidth`` (``USER``: the
  ``Bandwidth`` given; ``CALC``: SCALE-Sim estimates the bandwidth that never stalls),
  ``UseRamulatorTrace``; ``[network_presets]`` ``TopologyCsvLoc``, ``LayoutCsvLoc``. Only the
  array size and dataflow are required. An unknown section or key is a one-line error naming
  the file, section and key; so are a non-positive bandwidth and settings we cannot honour
  (``SparsitySupport: true``, ``UseRamulatorTrace: true``).

The engines' cycle models assume operands arrive in time; :meth:`ArchConfig.memory` turns the
SRAM sizes and the USER bandwidth into sim.memory's buffers and DRAM port, whose
``simulate`` adds SCALE-Sim's stall cycles (reports/scalesim_compare.py holds it against the
real SCALE-Sim; docs/scalesim.md gives the differences).
"""

from __future__ import annotations

import configparser
import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from sim.systolic import SystolicConfig

DATAFLOWS = ("os", "ws", "is")
WORD_BYTES = 1  # SCALE-Sim's word: single_layer_sim.py sets word_size = 1 byte (an int8 element)

# SCALE-Sim 3's config keys, lower case (configparser matches them case-blind), per section
CONFIG_KEYS = {
    "general": {"run_name"},
    "architecture_presets": {
        "arrayheight", "arraywidth", "ifmapsramszkb", "filtersramszkb", "ofmapsramszkb", "ifmapoffset",
        "filteroffset", "ofmapoffset", "bandwidth", "dataflow", "memorybanks", "readrequestbuffer",
        "writerequestbuffer", "onchipmemorybanks", "onchipmemorybankports",
    },
    "layout": {
        "ifmapcustomlayout", "filtercustomlayout", "ifmapsrambankbandwidth", "ifmapsrambanknum",
        "ifmapsrambankport", "filtersrambankbandwidth", "filtersrambanknum", "filtersrambankport",
    },
    "sparsity": {"sparsitysupport", "sparserep", "optimizedmapping", "blocksize", "randomnumbergeneratorseed"},
    "run_presets": {"interfacebandwidth", "useramulatortrace"},
    "network_presets": {"topologycsvloc", "layoutcsvloc"},
}
_SPARSITY = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


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
    """A SCALE-Sim architecture config: the array and dataflow our models use, the SRAM sizes
    (kB = 1024 bytes), the DRAM bandwidth (words per cycle) and how SCALE-Sim takes it."""

    array_height: int
    array_width: int
    dataflow: str
    ifmap_sram_kb: int | None = None
    filter_sram_kb: int | None = None
    ofmap_sram_kb: int | None = None
    bandwidth: int | None = None  # DRAM words per cycle ([architecture_presets] Bandwidth, first value)
    interface_bandwidth: str | None = None  # "USER" or "CALC" ([run_presets] InterfaceBandwidth)
    # [layout] IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth: in USER mode SCALE-Sim 3 takes these
    # as the ifmap and filter DRAM interfaces' bandwidths (single_layer_sim.py), Bandwidth as the ofmap's
    ifmap_bank_bandwidth: int | None = None
    filter_bank_bandwidth: int | None = None
    run_name: str | None = field(default=None, compare=False)

    def systolic(self) -> SystolicConfig:
        if self.dataflow == "is":
            raise ValueError("dataflow 'is' runs on the input-stationary engine (sim.input_stationary.ISConfig, "
                             "engine 'is'), not on sim.systolic's OS/WS array")
        return SystolicConfig(self.array_height, self.array_width, self.dataflow)

    def memory(self, shared: bool = False, latency: int = 0):
        """The buffers and DRAM port of this config as a sim.memory.MemoryConfig.

        Each SRAM becomes a double-buffered :class:`sim.memory.Buffer` of ``kB * 1024`` bytes
        (SCALE-Sim's buffers are double buffered: half active, half prefetching). The DRAM port
        carries ``Bandwidth`` words per cycle; a word is one byte (SCALE-Sim's
        single_layer_sim.py fixes ``word_size = 1``, an int8 element), so the port moves
        ``Bandwidth`` bytes per cycle. ``shared=False`` (the default) gives each operand its own
        port at that bandwidth, SCALE-Sim's model; ``shared=True`` one port for all three.
        ``latency``: DRAM read latency in cycles (SCALE-Sim's read port: 1, see
        docs/scalesim.md). Raises when the config has no USER bandwidth (CALC asks SCALE-Sim to
        estimate one; we need it given), when an SRAM size is missing, or when the layout's
        ifmap/filter bank bandwidths differ from ``Bandwidth`` (SCALE-Sim would use them as those
        operands' DRAM bandwidths; sim.memory.Dram has one bandwidth).
        """
        from sim.memory import Buffer, Dram, MemoryConfig

        if self.interface_bandwidth == "CALC" or self.bandwidth is None:
            raise ValueError(
                "the memory model needs a USER bandwidth: set [run_presets] InterfaceBandwidth: USER and "
                "[architecture_presets] Bandwidth (DRAM words per cycle) in the config"
                + (" (it says CALC: SCALE-Sim would estimate the bandwidth)" if self.interface_bandwidth == "CALC"
                   else ""))
        for key, kb in (("IfmapSramSzkB", self.ifmap_sram_kb), ("FilterSramSzkB", self.filter_sram_kb),
                        ("OfmapSramSzkB", self.ofmap_sram_kb)):
            if kb is None:
                raise ValueError(f"the memory model needs [architecture_presets] {key} (SRAM size in kB)")
        for key, bw in (("IfmapSRAMBankBandwidth", self.ifmap_bank_bandwidth),
                        ("FilterSRAMBankBandwidth", self.filter_bank_bandwidth)):
            if bw is not None and bw != self.bandwidth:
                raise ValueError(
                    f"[layout] {key} = {bw} differs from Bandwidth = {self.bandwidth}: in USER mode SCALE-Sim "
                    f"uses it as that operand's DRAM bandwidth, and sim.memory.Dram has one bandwidth; set them equal")
        return MemoryConfig(
            Buffer(self.ifmap_sram_kb * 1024), Buffer(self.filter_sram_kb * 1024), Buffer(self.ofmap_sram_kb * 1024),
            Dram(self.bandwidth * WORD_BYTES, latency, shared=shared))


def read_text(path: Path, what: str) -> str:
    """The file's text (UTF-8, a byte-order mark allowed); every failure names the file."""
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if not path.is_file():
        raise ValueError(f"{what} {path} is a folder, not a file" if path.is_dir() else
                         f"{what} {path} is not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path} line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}); save the {what} as UTF-8") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ValueError(f"{path} line {line}: a NUL byte: a binary file, not a {what}")
    return text


def _config_error(path: Path, exc: Exception) -> str:
    """One line naming the file, the line and what configparser could not read there."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return (f"{path} line {exc.lineno}: {exc.line.strip()!r} comes before any [section] header (a SCALE-Sim "
                f".cfg starts with a section such as [architecture_presets])")
    if isinstance(exc, configparser.ParsingError):
        lineno, line = exc.errors[0]
        line = str(line).strip()
        shown = line if line[:1] in "'\"" else repr(line)  # Python 3.11-3.12 store the line's repr
        more = f" (and {len(exc.errors) - 1} more lines)" if len(exc.errors) > 1 else ""
        return f"{path} line {lineno}: cannot read {shown}: expected KEY: VALUE or a [section]{more}"
    if isinstance(exc, (configparser.DuplicateSectionError, configparser.DuplicateOptionError)):
        section = f"[{exc.section}] " if isinstance(exc, configparser.DuplicateOptionError) else ""
        what = f"key {exc.option!r}" if isinstance(exc, configparser.DuplicateOptionError) else \
            f"section [{exc.section}]"
        return f"{path} line {exc.lineno}: {section}{what} is repeated"
    return f"{path}: not a valid config file: {' '.join(str(exc).split())}"


def _int_field(value: str, what: str, where: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {value.strip()!r}") from None
    if number < 1:
        raise ValueError(f"{where}: {what} must be >= 1, got {number}")
    return number


def _sparsity(value: str, where: str) -> None:
    """Check an N:M sparsity field: dense (N = M) passes; sparse or malformed raises."""
    match = _SPARSITY.match(value)
    if not match:
        raise ValueError(f"{where}: Sparsity must be N:M (e.g. 2:4, or 1:1 for dense), got {value.strip()!r}")
    n, m = int(match[1]), int(match[2])
    if not 1 <= n <= m:
        raise ValueError(f"{where}: Sparsity {n}:{m} needs 1 <= N <= M")
    if n < m:
        raise ValueError(f"{where}: Sparsity {n}:{m} (N:M structured weight sparsity) is not modelled; "
                         f"use a dense ratio (1:1) or drop the column")


def read_topology(path: str | Path) -> list[Layer]:
    """Layers of a SCALE-Sim topology CSV (convolution or GEMM form, told apart by the header)."""
    path = Path(path)
    text = read_text(path, "topology file")
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines())]
    except csv.Error as exc:  # e.g. a NUL byte: a binary file
        raise ValueError(f"{path}: not a CSV topology file ({exc})") from None
    rows = [row[:-1] if row and row[-1] == "" else row for row in rows if any(cell for cell in row)]
    if not rows:
        raise ValueError(f"{path}: empty topology file (no header row, no layers)")
    header = [h.lower() for h in rows[0]]
    gemm_form = len(header) >= 4 and header[1:4] == ["m", "n", "k"]
    layers = []
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path.name} line {line}"
        if gemm_form:
            if len(row) < 4:
                raise ValueError(f"{where}: a GEMM row needs Layer, M, N, K; got {row}")
            if len(row) > 5:
                raise ValueError(f"{where}: a GEMM row has at most Layer, M, N, K, Sparsity; got {len(row)} fields")
            m, n, k = (_int_field(v, c, where) for v, c in zip(row[1:4], "MNK"))
            if len(row) == 5:
                _sparsity(row[4], where)
            layers.append(Layer(row[0], m, n, k))
            continue
        if len(row) < 8:
            raise ValueError(
                f"{where}: a convolution row needs Layer name, IFMAP Height, IFMAP Width, Filter Height, "
                f"Filter Width, Channels, Num Filter, Strides; got {len(row)} fields"
            )
        names = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter", "Strides")
        ih, iw, fh, fw, ch, nf, sh = (_int_field(v, c, where) for v, c in zip(row[1:8], names))
        extra = [cell for cell in row[8:]]
        sw = sh
        if extra and extra[0].lstrip("+-").isdigit():  # bitweight's extension: an integer stride width
            sw = _int_field(extra.pop(0), "Stride width", where)
        if len(extra) > 1:
            raise ValueError(f"{where}: a convolution row has at most 8 fields, a stride width and Sparsity; "
                             f"got {len(row)} fields")
        if extra:
            _sparsity(extra[0], where)
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


def _bool(value: str, where: str) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise ValueError(f"{where} must be True or False, got {value.strip()!r}")
    return v == "true"


def read_arch_config(path: str | Path) -> ArchConfig:
    """The array size, dataflow, SRAM sizes and DRAM bandwidth of a SCALE-Sim .cfg file."""
    path = Path(path)
    text = read_text(path, "config file")
    # no interpolation: a '%' in a value is text, never a configparser error at first use
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str.lower  # SCALE-Sim's keys are CamelCase; match them case-blind
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ValueError(_config_error(path, exc)) from None
    for sec in parser.sections():
        known = CONFIG_KEYS.get(sec.lower())
        if known is None:
            raise ValueError(f"{path}: unknown section [{sec}] (SCALE-Sim 3 has {', '.join(CONFIG_KEYS)})")
        for key in parser[sec]:
            if key not in known:
                raise ValueError(f"{path}: [{sec}] unknown key {key!r} (not a SCALE-Sim 3 setting)")
    sections = {sec.lower(): parser[sec] for sec in parser.sections()}
    section = "architecture_presets"
    if section not in sections:
        raise ValueError(f"{path}: no [{section}] section (SCALE-Sim's array configuration)")
    arch = sections[section]

    def number(key: str, required: bool = True, sec: str = section) -> int | None:
        s = sections.get(sec)
        if s is None or key.lower() not in s:
            if required:
                raise ValueError(f"{path}: [{sec}] has no {key}")
            return None
        return _int_field(s[key.lower()], key, f"{path} [{sec}]")

    dataflow = arch.get("dataflow", "").strip().lower()
    if dataflow not in DATAFLOWS:
        raise ValueError(f"{path}: [{section}] Dataflow must be 'os', 'ws' or 'is', got {dataflow!r}")

    bandwidth = None
    if "bandwidth" in arch:
        values = [v.strip() for v in arch["bandwidth"].split(",")]
        for v in values:
            try:
                bw = int(v)
            except ValueError:
                raise ValueError(f"{path}: [{section}] Bandwidth must be a positive integer of words per cycle, "
                                 f"got {v!r}") from None
            if bw < 1:
                raise ValueError(f"{path}: [{section}] Bandwidth must be a positive integer of words per cycle, "
                                 f"got {bw}")
        bandwidth = int(values[0])

    mode = None
    presets = sections.get("run_presets")
    if presets is not None and "interfacebandwidth" in presets:
        mode = presets["interfacebandwidth"].strip().upper()
        if mode not in ("USER", "CALC"):
            raise ValueError(f"{path}: [run_presets] InterfaceBandwidth must be USER or CALC, got {mode!r}")
        if mode == "USER" and bandwidth is None:
            raise ValueError(f"{path}: [run_presets] InterfaceBandwidth is USER but [{section}] has no Bandwidth")
    if presets is not None and "useramulatortrace" in presets and \
            _bool(presets["useramulatortrace"], f"{path}: [run_presets] UseRamulatorTrace"):
        raise ValueError(f"{path}: [run_presets] UseRamulatorTrace: True (Ramulator DRAM latencies) is not modelled")
    sparsity = sections.get("sparsity")
    if sparsity is not None and "sparsitysupport" in sparsity and \
            _bool(sparsity["sparsitysupport"], f"{path}: [sparsity] SparsitySupport"):
        raise ValueError(f"{path}: [sparsity] SparsitySupport: true (sparse weights) is not modelled")
    layout = sections.get("layout")
    if layout is not None:
        for key in ("IfmapCustomLayout", "FilterCustomLayout"):
            if key.lower() in layout:
                _bool(layout[key.lower()], f"{path}: [layout] {key}")
    for key in ("IfmapOffset", "FilterOffset", "OfmapOffset"):  # addresses: 0 is fine
        if key.lower() in arch:
            v = arch[key.lower()].strip()
            if not v.isdigit():
                raise ValueError(f"{path}: [{section}] {key} must be a non-negative integer, got {v!r}")
    for key in ("MemoryBanks", "ReadRequestBuffer", "WriteRequestBuffer", "OnChipMemoryBanks",
                "OnChipMemoryBankPorts"):
        number(key, False)
    for key in ("IfmapSRAMBankNum", "IfmapSRAMBankPort", "FilterSRAMBankNum", "FilterSRAMBankPort"):
        number(key, False, "layout")
    general = sections.get("general")
    return ArchConfig(
        number("ArrayHeight"), number("ArrayWidth"), dataflow,
        number("IfmapSramSzkB", False), number("FilterSramSzkB", False), number("OfmapSramSzkB", False),
        bandwidth=bandwidth, interface_bandwidth=mode,
        ifmap_bank_bandwidth=number("IfmapSRAMBankBandwidth", False, "layout"),
        filter_bank_bandwidth=number("FilterSRAMBankBandwidth", False, "layout"),
        run_name=general.get("run_name").strip() if general is not None and "run_name" in general else None,
    )
