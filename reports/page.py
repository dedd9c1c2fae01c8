"""The report's index.html: plain HTML, one small inline script, nothing fetched from the network.

Layout (what an architect sees first is the answer, then the way to it):

1. the title, the build's provenance and, for ``--quick``, a banner saying the numbers are reduced;
2. a contents list linking every section;
3. the summary: the best engine per workload for area efficiency, energy and latency, and one
   chart of area efficiency against energy efficiency for every engine;
4. the cost pivot: engines x workloads for a metric chosen from a menu (the best cell of each
   workload marked), then every section's table and figure.

Every table sorts by a click on its header and filters by the box above it; long tables start
folded. Missing values read "n/a" with a tooltip, never ``nan``. The script only sorts, filters and
redraws the pivot from data embedded in the page: without it every table is still there, the pivot
at its default metric.
"""

from __future__ import annotations

import html
import json
import math
import re

import pandas as pd

CSS = """
body{font-family:system-ui,sans-serif;max-width:1400px;margin:1.5em auto;padding:0 1em;line-height:1.45;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.15em;margin-top:2em}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em;margin:1em 0;font-weight:600}
.meta{color:#555;font-size:13px}
nav.toc{columns:2;font-size:14px;background:#f7f7f7;padding:.6em 1em 0.6em 2em;border-radius:4px}
nav.toc li{break-inside:avoid}
table{border-collapse:collapse;font-size:12px;margin:.3em 0 1.2em}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.t,th.t{text-align:left}td.na{color:#999}td.best{background:#d8f0d8;font-weight:600}
.tablewrap{max-height:36em;overflow:auto;border:1px solid #eee;display:inline-block;max-width:100%}
input.filter{margin:.2em 0;padding:2px 6px;width:22em}
img{max-width:100%;height:auto}figure{margin:.5em 0 1.5em}figcaption{font-size:13px;color:#444}
details>summary{cursor:pointer;color:#0645ad}.note{max-width:70em}
select{font-size:14px}
"""

SCRIPT = r"""
(function(){
function num(td){var v=td.getAttribute('data-v');return v===null?NaN:parseFloat(v);}
function sortTable(th){
  var table=th.closest('table'),tb=table.tBodies[0],idx=Array.prototype.indexOf.call(th.parentNode.children,th);
  var asc=!th.classList.contains('sorted-asc');
  Array.prototype.forEach.call(th.parentNode.children,function(h){h.classList.remove('sorted-asc','sorted-desc');});
  th.classList.add(asc?'sorted-asc':'sorted-desc');
  var rows=Array.prototype.slice.call(tb.rows);
  rows.sort(function(a,b){
    var x=a.cells[idx],y=b.cells[idx],nx=num(x),ny=num(y),r;
    if(!isNaN(nx)||!isNaN(ny)){ if(isNaN(nx))return 1; if(isNaN(ny))return -1; r=nx-ny; }
    else r=x.textContent.localeCompare(y.textContent);
    return asc?r:-r;});
  rows.forEach(function(r){tb.appendChild(r);});
}
function wire(root){
  root.querySelectorAll('table.data th').forEach(function(th){th.addEventListener('click',function(){sortTable(th);});});
  root.querySelectorAll('input.filter').forEach(function(inp){
    inp.addEventListener('input',function(){
      var t=document.getElementById(inp.getAttribute('data-table')),q=inp.value.toLowerCase();
      Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
        r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
}
function fmt(v){ if(v===null||v===undefined||isNaN(v))return 'n/a';
  var a=Math.abs(v); if(a===0)return '0'; if(a>=1000)return v.toLocaleString('en-US',{maximumFractionDigits:0});
  return Number(v.toPrecision(4)).toString(); }
function pivot(){
  var data=JSON.parse(document.getElementById('pivot-data').textContent),sel=document.getElementById('pivot-metric');
  var m=sel.value,meta=data.metrics[m],out=document.getElementById('pivot');
  var h='<table class="data" id="pivot-table"><thead><tr><th class="t">engine</th>';
  data.workloads.forEach(function(w){h+='<th>'+w+'</th>';}); h+='</tr></thead><tbody>';
  var best={}; data.workloads.forEach(function(w,j){var b=null;
    data.engines.forEach(function(e,i){var v=data.values[m][i][j]; if(v===null)return;
      if(b===null||(meta.lower?v<b:v>b))b=v;}); best[j]=b;});
  data.engines.forEach(function(e,i){h+='<tr><td class="t">'+e+'</td>';
    data.workloads.forEach(function(w,j){var v=data.values[m][i][j];
      var cls=v===null?'na':(v===best[j]?'best':'');
      h+='<td class="'+cls+'" data-v="'+(v===null?'':v)+'"'+(v===null?' title="not priced on this workload"':'')+'>'+fmt(v)+'</td>';});
    h+='</tr>';});
  out.innerHTML=h+'</tbody></table>';
  document.getElementById('pivot-unit').textContent=meta.label+' ('+(meta.lower?'lower':'higher')+' is better; the best of each workload is marked)';
  wire(out);
}
document.addEventListener('DOMContentLoaded',function(){
  wire(document);
  var sel=document.getElementById('pivot-metric'); if(sel){sel.addEventListener('change',pivot);}
});
})();
"""

NA_TITLE = "no value: not applicable to this row (see the section's note)"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def fmt(v: object) -> tuple[str, str | None]:
    """(text, sort value) of one cell: integers as integers, floats to 4 significant digits,
    missing values as n/a."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return "n/a", None
    if isinstance(v, bool):
        return str(v), None
    if isinstance(v, int) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"):
        return f"{int(v):,}", str(int(v))
    if isinstance(v, float) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") == "f"):
        x = float(v)
        if math.isinf(x):
            return ("inf" if x > 0 else "-inf"), None
        if x == 0:
            return "0", "0"
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}", repr(x)
        return (f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"), repr(x)
    return html.escape(str(v)), None


def table(df: pd.DataFrame, table_id: str, titles: dict[str, str] | None = None, best: dict[str, bool] | None = None
          ) -> str:
    """A sortable, filterable table; ``titles``: column -> header tooltip."""
    titles = titles or {}
    text_cols = {c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])}
    head = "".join(f"<th class='{'t' if c in text_cols else ''}'"
                   + (f" title='{html.escape(titles[c])}'" if c in titles else "")
                   + f">{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, row):
            text, key = fmt(v)
            cls = "t" if c in text_cols else ""
            if text == "n/a":
                cls += " na"
                cells.append(f"<td class='{cls}' title='{NA_TITLE}'>n/a</td>")
            else:
                cells.append(f"<td class='{cls}'" + (f" data-v='{key}'" if key is not None else "") + f">{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    box = (f"<input class='filter' data-table='{table_id}' placeholder='filter {len(df)} rows' aria-label='filter'>"
           if len(df) > 8 else "")
    return (f"{box}<div class='tablewrap'><table class='data' id='{table_id}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


PIVOT_METRICS = {  # column -> (label with unit, lower is better)
    "energy_per_mac_pj": ("energy per MAC, pJ (memory included)", True),
    "latency_us": ("latency, us", True),
    "gops_per_mm2": ("area efficiency, GOPS/mm^2", False),
    "gops_per_w": ("energy efficiency, GOPS/W", False),
    "energy_pj": ("energy, pJ", True),
    "cycles": ("cycles (stalls included)", True),
    "stall_cycles": ("stall cycles", True),
    "utilisation": ("utilisation, MACs / (units x cycles)", False),
    "area_um2": ("array area, um^2", True),
    "clock_mhz": ("clock, MHz", False),
}


def pivot_data(costs: pd.DataFrame) -> dict:
    engines = list(dict.fromkeys(costs.engine))
    workloads = list(dict.fromkeys(costs.workload))
    metrics = {m: {"label": lab, "lower": low} for m, (lab, low) in PIVOT_METRICS.items() if m in costs}
    values = {}
    for m in metrics:
        pv = costs.pivot_table(index="engine", columns="workload", values=m, aggfunc="first", sort=False)
        pv = pv.reindex(index=engines, columns=workloads)
        values[m] = [[None if pd.isna(x) else float(x) for x in r] for r in pv.to_numpy()]
    return {"engines": engines, "workloads": workloads, "metrics": metrics, "values": values}


def pivot_html(data: dict, metric: str = "energy_per_mac_pj") -> str:
    """The pivot at ``metric`` as static HTML (the script redraws it for another metric)."""
    meta = data["metrics"][metric]
    vals = data["values"][metric]
    best = []
    for j in range(len(data["workloads"])):
        col = [r[j] for r in vals if r[j] is not None]
        best.append((min(col) if meta["lower"] else max(col)) if col else None)
    head = "<th class='t'>engine</th>" + "".join(f"<th>{html.escape(w)}</th>" for w in data["workloads"])
    body = []
    for e, r in zip(data["engines"], vals):
        cells = []
        for j, v in enumerate(r):
            if v is None:
                cells.append("<td class='na' title='not priced on this workload'>n/a</td>")
            else:
                cells.append(f"<td class='{'best' if v == best[j] else ''}' data-v='{v!r}'>{fmt(v)[0]}</td>")
        body.append(f"<tr><td class='t'>{html.escape(e)}</td>{''.join(cells)}</tr>")
    options = "".join(f"<option value='{m}'{' selected' if m == metric else ''}>{html.escape(d['label'])}</option>"
                      for m, d in data["metrics"].items())
    payload = json.dumps(data).replace("</", "<\\/")
    return (f"<p><label>metric: <select id='pivot-metric'>{options}</select></label> "
            f"<span id='pivot-unit'>{html.escape(meta['label'])} ({'lower' if meta['lower'] else 'higher'} is better; "
            "the best of each workload is marked)</span></p>"
            f"<div id='pivot'><table class='data' id='pivot-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>"
            f"<script type='application/json' id='pivot-data'>{payload}</script>")


def figure_html(name: str, caption: str) -> str:
    c = html.escape(caption)
    return f"<figure><img src='{html.escape(name)}' alt='{c}'><figcaption>{c}</figcaption></figure>"


def page(title: str, head_html: str, blocks: list[tuple[str, str]]) -> str:
    """The whole page: ``blocks`` are (section title, inner HTML) in order; the contents list links each."""
    toc = "".join(f"<li><a href='#{slug(t)}'>{html.escape(t)}</a></li>" for t, _ in blocks)
    body = "".join(f"<section id='{slug(t)}'><h2>{html.escape(t)}</h2>{inner}</section>" for t, inner in blocks)
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style><script>{SCRIPT}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>{head_html}"
            f"<nav class='toc' aria-label='contents'><ol>{toc}</ol></nav>{body}</body></html>")
