"""The pieces of sslab's HTML pages (run reports, comparisons): tables, percentages, inlined figures, the page.

Standard library only, so the analyses that describe their sections and the report that assembles them
share one look without importing each other.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;max-width:1000px;margin:0 auto;
padding:1em;color:#222}h1{font-size:1.6em;margin:.3em 0}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1em 0;display:block;overflow-x:auto;max-width:100%}
td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left;white-space:normal;min-width:7em}figure{margin:1.5em 0}figure img{max-width:100%;height:auto;
cursor:zoom-in}.panels{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:flex-start}
figcaption{color:#555;font-size:.95em}pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}
small{color:#666}.skipped{color:#777}.about{background:#f3f6fa;padding:.8em 1em;border-left:4px solid #4a78b0}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:.7em 1em;font-weight:600}
nav ol{columns:2 22em;column-gap:3em;margin:.5em 0}#zoom{position:fixed;inset:0;background:#fffffff5;overflow:auto;display:none;
z-index:9;cursor:zoom-out;padding:1em}#zoom.on{display:block}#zoom img{max-width:none}
@media (max-width:640px){body{font-size:15px;padding:.6em}td,th{padding:3px 6px}}"""  # every page's
ZOOM = """<div id="zoom" role="dialog"></div><script>
const z=document.getElementById('zoom');
document.addEventListener('click',e=>{const i=e.target.closest('figure img');
if(i){const c=i.cloneNode();c.removeAttribute('width');z.replaceChildren(c);z.classList.add('on')}
else if(e.target.closest('#zoom'))z.classList.remove('on')});
document.addEventListener('keydown',e=>{if(e.key==='Escape')z.classList.remove('on')});
</script>"""


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; header cells are escaped, row cells are HTML already (escape names before)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def figure(images: Path | bytes | list[bytes], caption: str, alts: list[str] | None = None) -> str:
    """PNGs (a file, or one or more panels' bytes) inlined in the page, with a caption and alt text each."""
    pngs = [images.read_bytes()] if isinstance(images, Path) else [images] if isinstance(images, bytes) else images
    alts = alts or [caption] * len(pngs)
    tags = "".join(f"<img src='data:image/png;base64,{base64.b64encode(p).decode()}' width='{_width(p)}' "
                   f"alt='{html.escape(a, quote=True)}'>" for p, a in zip(pngs, alts))
    body = f"<div class='panels'>{tags}</div>" if len(pngs) > 1 else tags
    return f"<figure>{body}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # the IHDR chunk's width




def page(title: str, body: str, lang: str) -> str:
    """A whole self-contained page: the style, the viewport for phones, the body, click-to-enlarge."""
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>{STYLE}</style>
</head><body>
{body}
{ZOOM}
</body></html>
"""
