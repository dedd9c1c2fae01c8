"""Per-item results of the GPU check, written as each item finishes (JSON lines), and the
roofline fields every GPU benchmark carries (bench/gpu_plan.py). Import-light: pytest and torch only."""

from __future__ import annotations

import json
import os


def annotate_roofline(item, benchmark) -> None:
    """Add ``predicted_s`` (at the H200 peers), ``roofline_s`` (this GPU), ``pct_of_roofline``,
    ``bytes_roofline`` and ``ops_roofline`` to a benchmark's extra_info; nothing when the item
    has no roofline or no time."""
    from bench.gpu_plan import gpu_scales, roofline_for

    params = dict(getattr(getattr(item, "callspec", None), "params", {}))
    r = roofline_for(item.module.__name__, item.originalname, params)
    info = benchmark.extra_info
    if r is None or (not r.bytes and not r.ops):
        return
    info.update({"bytes_roofline": r.bytes, "ops_roofline": r.ops, "roofline_math": r.math,
                 "predicted_s": r.seconds()})
    time_s = info.get("time_s")
    gpu = info.get("gpu")
    if time_s and gpu:
        roof = r.seconds(*gpu_scales(gpu))
        info["roofline_s"] = roof
        info["pct_of_roofline"] = 100 * roof / time_s


def append_item(path: str, item, report, benchmark) -> None:
    """One JSON line per item: its outcome, and for a benchmark what pytest-benchmark would save."""
    rec = {"nodeid": item.nodeid, "when": report.when, "outcome": report.outcome,
           "duration_s": round(report.duration, 4)}
    if report.outcome != "passed" and report.longrepr is not None:
        text = getattr(report.longrepr, "reprcrash", None)
        rec["message"] = (text.message if text is not None else str(report.longrepr))[-600:]
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            rec["message"] = str(report.longrepr[2])[-300:]
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if benchmark is not None and report.when == "call" and stats:
        rec["benchmark"] = {"name": item.name, "fullname": item.nodeid, "group": benchmark.group,
                            "params": {k: str(v) for k, v in getattr(getattr(item, "callspec", None), "params", {}).items()},
                            "stats": stats.as_dict(), "extra_info": dict(benchmark.extra_info)}
    with open(path, "a") as f:
        f.write(json.dumps(rec, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
