"""The report's sections beyond the cost tables: one module of this package per section provider.

Every module here (names starting with ``_`` aside) is a provider: it declares ``ORDER`` (an int:
``bitweight report`` runs the providers sorted by ORDER, then by name) and
``report_sections(progress, quick=False)``, which takes ``progress`` (a callable taking one line
of text) and ``quick`` (a keyword: a reduced run) and returns a list of
``reports.build.ReportSection``. A family adds its tables (real-model statistics, quantisation
error, loss curves, paper comparisons) by adding such a module; nothing lists them by hand.

The modules are found by listing the package (:func:`discover`) and imported only then, so
importing one of them (``reports.sections.bitserial_compare``) does not import the others.
``PROVIDERS`` is the discovered list as ``"module:report_sections"`` strings.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from functools import lru_cache

from reports.engine import load


@lru_cache(maxsize=1)
def discover() -> tuple[str, ...]:
    """Every provider module of this package as ``"module:report_sections"``, sorted by ORDER then name."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        order = getattr(module, "ORDER", None)
        if isinstance(order, bool) or not isinstance(order, int) or not callable(getattr(module, "report_sections", None)):
            raise TypeError(f"report section module reports/sections/{info.name}.py must declare ORDER (an int) "
                            "and report_sections(progress, quick=False)")
        found.append((order, info.name, f"{module.__name__}:report_sections"))
    return tuple(spec for _, _, spec in sorted(found))


def __getattr__(name: str):
    if name == "PROVIDERS":  # discovered on first use, not when the package is imported
        return discover()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(spec: str, quick: bool, progress: Callable[[str], None] = print) -> tuple[list, float]:
    import time

    t0 = time.perf_counter()
    fn = load(spec)
    sections = fn(progress, quick=True) if quick else fn(progress)
    return sections, time.perf_counter() - t0


def gather(progress: Callable[[str], None] = print, providers: Sequence[str] | None = None,
           quick: bool = False, pool=None, wait: bool = True):
    """Every provider's sections, in order (an error names the provider that failed).

    ``providers``: ``"module:function"`` strings to run instead of the discovered ones (PROVIDERS).
    ``quick``: every provider runs a reduced version (small arrays, few sentences, few steps):
    the same code paths in seconds, for tests and a first look; the numbers are not the report's.
    ``pool``: a ``concurrent.futures`` process pool to run the providers in, side by side (they are
    independent; a synthesis two of them need is run once, reports/synth.py locks each design);
    their progress lines then go to standard output as they come. ``wait=False`` (with a pool):
    return at once a function that waits for the sections and returns them.
    """
    specs = discover() if providers is None else providers
    if pool is None:
        runs = [(spec, None) for spec in specs]
    else:
        runs = [(spec, pool.submit(_run, spec, quick)) for spec in specs]
    if pool is not None and not wait:
        return lambda: _collect(runs, quick, progress)
    return _collect(runs, quick, progress)


def _collect(runs: list, quick: bool, progress: Callable[[str], None]) -> list:
    out = []
    for spec, fut in runs:
        try:
            sections, seconds = _run(spec, quick, progress) if fut is None else fut.result()
        except Exception as exc:
            raise RuntimeError(f"report section provider {spec} failed: {exc}") from exc
        progress(f"report: {spec.split(':')[0].rsplit('.', 1)[-1]} sections done ({seconds:.0f} s)")
        out.extend(sections)
    return out
