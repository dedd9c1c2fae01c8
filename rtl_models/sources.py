"""Which Verilog files a top module needs: its own file plus those of every module it
instantiates, transitively.

Builds and syntheses read only these, so adding or editing one family's Verilog neither slows
nor invalidates (through the cached builds' source hashes) another family's. A plain text scan,
not a parser: comments are stripped, each file's ``module NAME`` declarations are collected, and
a file depends on every other file whose module names appear in it as identifiers. That can
over-include (a module name reused as a signal name) but never under-include.

``module_parameters`` reads a module's ``#(...)`` header the same way: the names and integer
defaults `bitweight synth` checks ``-P`` against (pyverilog's full parse, rtl_models/inventory.py,
is slower: it runs Icarus's preprocessor).
"""

from __future__ import annotations

import re
from pathlib import Path

VERILOG_DIR = Path(__file__).resolve().parent / "verilog"

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE = re.compile(r"^\s*module\s+([A-Za-z_]\w*)", re.M)
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")
_PARAM_ITEM = re.compile(r"\s*(?:parameter\s+)?(?:(?:integer|signed|unsigned)\s+|\[[^\]]*\]\s*)*"
                         r"([A-Za-z_]\w*)\s*=\s*(.+?)\s*$", re.S)


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


def module_parameters(top: str, folder: Path = VERILOG_DIR) -> dict[str, int | None]:
    """The parameters Verilog module ``top`` declares in its header ``#(...)``, in order, with their
    integer defaults (None where a default is an expression). Raises ValueError for an unknown top."""
    try:
        paths = sources_for(top, folder)
    except ValueError:
        raise ValueError(f"no Verilog module named {top!r} in rtl_models/verilog (`bitweight inventory` lists "
                         "them)") from None
    for path in paths:
        text = _COMMENTS.sub(" ", path.read_text())
        m = re.search(rf"\bmodule\s+{re.escape(top)}\b\s*", text)
        if m is None:
            continue
        rest = text[m.end():]
        if not rest.startswith("#"):
            return {}
        start = rest.index("(") + 1
        depth, i = 1, start
        while depth and i < len(rest):
            depth += {"(": 1, ")": -1}.get(rest[i], 0)
            i += 1
        items, depth, item = [], 0, []
        for ch in rest[start:i - 1]:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
            if ch == "," and depth == 0:
                items.append("".join(item))
                item = []
            else:
                item.append(ch)
        items.append("".join(item))
        params = {}
        for text_item in items:
            if mp := _PARAM_ITEM.match(text_item):
                try:
                    params[mp[1]] = int(mp[2], 0)
                except ValueError:
                    params[mp[1]] = None
        return params
    raise ValueError(f"no Verilog module named {top!r} (`bitweight inventory` lists them)")
