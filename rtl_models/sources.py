"""Which Verilog files a top module needs: its own file plus those of every module it
instantiates, transitively.

Builds and syntheses read only these, so adding or editing one family's Verilog neither slows
nor invalidates (through the cached builds' source hashes) another family's. A plain text scan,
not a parser: comments are stripped, each file's ``module NAME`` declarations are collected, and
a file depends on every other file whose module names appear in it as identifiers. That can
over-include (a module name reused as a signal name) but never under-include.
"""

from __future__ import annotations

import re
from pathlib import Path

VERILOG_DIR = Path(__file__).resolve().parent / "verilog"

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE = re.compile(r"^\s*module\s+([A-Za-z_]\w*)", re.M)
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


def _scan(folder: Path) -> dict[Path, tuple[set[str], set[str]]]:
    """file -> (modules it declares, identifiers it uses)."""
    out = {}
    for path in sorted(folder.glob("*.v")):
        text = _COMMENTS.sub(" ", path.read_text())
        out[path] = (set(_MODULE.findall(text)), set(_IDENT.findall(text)))
    return out


def sources_for(top: str, folder: Path = VERILOG_DIR) -> list[Path]:
    """The files that declare ``top`` and everything it instantiates, sorted."""
    files = _scan(folder)
    declared_in = {m: path for path, (mods, _) in files.items() for m in mods}
    if top not in declared_in:
        raise ValueError(f"no Verilog module named {top!r} in {folder}; modules: {', '.join(sorted(declared_in))}")
    needed, todo = set(), [declared_in[top]]
    while todo:
        path = todo.pop()
        if path in needed:
            continue
        needed.add(path)
        todo.extend(declared_in[name] for name in files[path][1] if name in declared_in)
    return sorted(needed)
