"""The page shell every evalkit page shares: inline CSS, sortable tables, an in-page check of images and errors.

Pages are single files that open from ``file://`` with no network: styles and scripts are inline, images are
``data:`` URIs. A table is sortable by clicking its header, or on load from ``#sort=TABLE_ID:COLUMN:asc|desc``.
Each value cell carries the exact text of the file it came from in ``data-v`` (what sorting and tests read);
the visible text is rounded. After load, the script writes into ``#evalkit-check`` how many images decoded
(naturalWidth > 0) and every script error or ``console.error`` seen — so a browser test can read both back
from the DOM.
"""
from __future__ import annotations

import base64
import html
import io
import math
from string import Template

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f4f4f4;cursor:pointer;user-select:none}th.asc:after{content:" ▲"}th.desc:after{content:" ▼"}
td.t,th.t{text-align:left}tr.control td{background:#f7fbff}
.warn{color:#8a4b00;background:#fff6e5;padding:4px 8px;margin:4px 0;border-left:3px solid #e0a030}
.note{color:#555}.wrap{overflow-x:auto}figure{margin:.8em 0}figcaption{font-size:12px;color:#444}
img{max-width:100%;display:block}code{font-size:12px}.sig{color:#0a6b2a;font-weight:bold}
"""

# runs first (in <head>): records errors of every later script and console.error calls
_GUARD = """
window.__evalkitErrors=[];
window.addEventListener('error',function(e){window.__evalkitErrors.push(String(e.message||e.type));},true);
(function(){var f=console.error;console.error=function(){
  window.__evalkitErrors.push(Array.prototype.map.call(arguments,String).join(' '));f.apply(console,arguments);};})();
"""

_SCRIPT = """
function evalkitKey(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent;
  var x=parseFloat(v);return (v!==''&&isFinite(x)&&String(Number(v))!=='NaN')?[0,x]:[1,v];}
function evalkitSort(table,col,dir){
  var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=evalkitKey(a.cells[col]),y=evalkitKey(b.cells[col]);
    if(x[0]!==y[0])return x[0]-y[0];var c=x[1]<y[1]?-1:x[1]>y[1]?1:0;return dir==='desc'?-c:c;});
  rows.forEach(function(r){body.appendChild(r);});
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    th.className=th.className.replace(/ ?(asc|desc)/g,'')+(i===col?' '+dir:'');});
}
document.querySelectorAll('table.sortable').forEach(function(table){
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    th.addEventListener('click',function(){evalkitSort(table,i,/ asc/.test(th.className)?'desc':'asc');});});});
var m=/sort=([^:&]+):([^:&]+):(asc|desc)/.exec(decodeURIComponent(location.hash));
if(m){var t=document.getElementById(m[1]);if(t){var names=Array.prototype.map.call(t.tHead.rows[0].cells,
  function(th){return th.getAttribute('data-col');});var c=names.indexOf(m[2]);if(c>=0)evalkitSort(t,c,m[3]);}}
window.addEventListener('load',function(){
  var imgs=Array.prototype.slice.call(document.images);
  var ok=imgs.filter(function(i){return i.complete&&i.naturalWidth>0;}).length;
  document.getElementById('evalkit-check').textContent=JSON.stringify(
    {images:imgs.length,loaded:ok,errors:window.__evalkitErrors});
});
"""

_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<style>$css</style><script>$guard</script></head>
<body>
$body
<pre id="evalkit-check" hidden></pre>
<script>$script</script>
</body></html>
""")


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return _PAGE.substitute(title=esc(title), css=_CSS, guard=_GUARD, body=body, script=_SCRIPT)


def fmt(value) -> str:
    """Visible text of a value: 4 decimals (4 significant digits when tiny or huge), as the terminal table."""
    if value is None or value == "":
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if isinstance(value, bool) or (isinstance(value, str) and value.lstrip("-").isdigit()) or isinstance(value, int):
        return str(value)
    return f"{x:.4g}" if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6) else f"{x:.4f}"


def cell(value, text: str | None = None, cls: str = "") -> str:
    """A ``<td>`` whose ``data-v`` is the value exactly as the source file wrote it."""
    raw = "" if value is None else (repr(value) if isinstance(value, float) else str(value))
    klass = f' class="{cls}"' if cls else ""
    return f'<td{klass} data-v="{esc(raw)}">{esc(fmt(value) if text is None else text)}</td>'


def table(table_id: str, columns: list[str], rows: list[str], text_columns: int = 1) -> str:
    """A sortable table; ``rows`` are ready ``<tr>`` strings; the first ``text_columns`` are left-aligned."""
    head = "".join(f'<th data-col="{esc(c)}"{" class=t" if i < text_columns else ""}>{esc(c)}</th>'
                   for i, c in enumerate(columns))
    return (f'<div class="wrap"><table class="sortable" id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def png_uri(fig, dpi: int = 72) -> str:
    """A matplotlib figure as an inline PNG (closed afterwards, so long reports hold no figures)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def jpeg_uri(rgb) -> str:
    """An RGB uint8 array as an inline JPEG (frames: a tenth of PNG's size, no visible loss at q=85)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def write_page(path, text: str):
    """Write a page atomically, readable by all (pages are for sharing and serving; mkstemp makes 0600)."""
    import os
    from pathlib import Path

    from evalkit.results.outdir import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    os.chmod(path, 0o644)
    return path
