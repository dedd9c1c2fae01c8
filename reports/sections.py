"""The report's sections beyond the cost tables, one provider per family.

Each provider is ``"module:function"``; the function takes ``progress`` (a callable taking one
line of text) and ``quick`` (a keyword: a reduced run) and returns a list of
``reports.build.ReportSection``. ``bitweight report`` calls
them in this order. A family adds its tables (real-model statistics, quantisation error, loss
curves, paper comparisons) by writing such a function and naming it here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from reports.registry import load

PROVIDERS: tuple[str, ...] = (
    "reports.real_model:report_sections",
    "reports.quant_table:report_sections",
    "reports.lowbit_compare:report_sections",
    "reports.rotation:report_sections",
    "reports.training:report_sections",
    "reports.engine_costs:report_sections",
    "reports.toggles:report_sections",
    "reports.bitserial_compare:report_sections",
    "reports.tpe_compare:report_sections",
    "reports.sweep:report_sections",
)


def gather(progress: Callable[[str], None] = print, providers: Sequence[str] = PROVIDERS,
           quick: bool = False) -> list:
    """Every provider's sections, in order (an error names the provider that failed).

    ``quick``: every provider runs a reduced version (small arrays, few sentences, few steps):
    the same code paths in seconds, for tests and a first look; the numbers are not the report's.
    """
    out = []
    for spec in providers:
        fn = load(spec)
        try:
            sections = fn(progress, quick=True) if quick else fn(progress)
        except Exception as exc:
            raise RuntimeError(f"report section provider {spec} failed: {exc}") from exc
        out.extend(sections)
    return out
