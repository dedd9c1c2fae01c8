"""The report in a real headless browser (tests/browser.py), built here from two small engines with
an extra section and figure; the end-to-end `report --quick` test (tests/test_cli.py) opens the real
report the same way."""

import pandas as pd
from browser import check_report
from test_reports_build import WORKLOADS, engines, isolated_cache  # noqa: F401 (fixtures)

from reports import build


def test_report_in_a_real_browser(tmp_path, engines):  # noqa: F811
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([1, 2, 3], [3, 1, 2])
    extra = build.ReportSection("An extra section", "extra.csv", pd.DataFrame({"name": ["a", "b"], "x": [1.5, None]}),
                                "A note.", figure=fig, figure_caption="a line")
    out = build.build_report(tmp_path / "out", engines, WORKLOADS, progress=None, extra_sections=[extra], quick=True)
    seen = check_report(out, "small-report")
    assert seen["pivot_rows"] == 2 and len(seen["images"]) >= 6
    html = (out / "index.html").read_text()
    assert "Reduced report" in html and ">nan<" not in html and "n/a" in html  # the missing x of row b
    assert "<a href='#summary'>Summary</a>" in html
