"""The engine registry: every engine record of every family file in ``reports/engines/``.

A family file is a module of that package that exports ``ENGINES``, a list of
``reports.engine.Engine`` records; it is found by listing the package, so adding a family means
adding a file (no import list to edit, no import circle: family files import
``reports.engine``, never this module). Consumers iterate :func:`engines` and read the records'
fields (reports/engine.py says which); none dispatches on an engine's name or type.
"""

from __future__ import annotations

import importlib
import pkgutil

from reports.engine import Engine, load  # noqa: F401  (load: "module:attribute" for every consumer)


def _discover() -> dict[str, Engine]:
    import reports.engines as package

    modules = [(info.name, importlib.import_module(f"{package.__name__}.{info.name}"))
               for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")]
    # a family file may set ORDER (default 100) to place its engines in listings and the report
    modules.sort(key=lambda nm: (getattr(nm[1], "ORDER", 100), nm[0]))
    found: dict[str, Engine] = {}
    for name, module in modules:
        records = getattr(module, "ENGINES", None)
        if not isinstance(records, (list, tuple)) or not all(isinstance(e, Engine) for e in records):
            raise TypeError(f"family file reports/engines/{name}.py must export ENGINES, a list of "
                            "reports.engine.Engine records")
        for e in records:
            if e.name in found:
                raise ValueError(f"engine {e.name!r} is declared twice (reports/engines/{found[e.name].family}.py "
                                 f"and reports/engines/{name}.py)")
            if e.family != name:
                raise ValueError(f"engine {e.name!r} in reports/engines/{name}.py says family {e.family!r}; "
                                 f"it must be the file's name, {name!r}")
            found[e.name] = e
    return found


ENGINES: dict[str, Engine] = _discover()
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(e.family for e in ENGINES.values()))


def engines(family: str | None = None, *, table: str | None = None, sized: bool = False) -> dict[str, Engine]:
    """The registered engines: all, or those of one ``family``, in one comparison ``table``, or
    (``sized``) those that run an M x N x K GEMM sized from an array description."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown engine family {family!r}; families: {', '.join(FAMILIES)}")
    return {k: e for k, e in ENGINES.items()
            if (family is None or e.family == family) and (table is None or table in e.tables)
            and (not sized or e.sizing is not None)}


def get_engine(name: str, family: str | None = None, *, sized: bool = False) -> Engine:
    found = engines(family, sized=sized)
    try:
        return found[name]
    except KeyError:
        what = "engines that run a sized GEMM" if sized else "registered engines"
        raise ValueError(f"unknown engine {name!r}; {what}: {', '.join(sorted(found))}") from None
