"""A static, self-contained HTML report of one drift evaluation (inline CSS and SVG; no JS, no CDN)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from quality import Level
from quality.drift import PSI, Bin, DriftOutcome, overall_level

_COLORS = {Level.OK: "#2e7d32", Level.WARN: "#ef6c00", Level.ERROR: "#c62828"}
_REFERENCE, _CURRENT = "#9e9e9e", "#1e88e5"
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212121}
h1{font-size:20px}h2{font-size:16px;margin:24px 0 4px}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f5f5f5}
.level{font-weight:600}.muted{color:#757575;font-size:12px}.legend span{margin-right:16px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def write_drift_report(outcomes: Iterable[DriftOutcome], directory: str | Path, *, title: str | None = None,
                       partition: str | None = None, run_id: str | None = None,
                       filename: str | None = None) -> Path:
    """Write the report under `directory` (created if needed) and return its path.

    Default file name: drift_<group>[_<partition>]_<UTC timestamp>.html.
    """
    outcomes = list(outcomes)
    group = outcomes[0].group if outcomes else "group"
    if filename is None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        filename = "_".join(_slug(p) for p in ("drift", group, partition, stamp) if p) + ".html"
    path = Path(directory) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_drift_report(outcomes, title=title, partition=partition, run_id=run_id),
                    encoding="utf-8")
    return path


def render_drift_report(outcomes: Sequence[DriftOutcome], *, title: str | None = None,
                        partition: str | None = None, run_id: str | None = None) -> str:
    """The report as one HTML string: summary table, then a reference-vs-current histogram per feature."""
    group = outcomes[0].group if outcomes else "group"
    level = overall_level(outcomes)
    heading = title or f"Drift report: {group}" + (f", partition {partition}" if partition else "")
    windows = sorted({o.reference_window for o in outcomes})
    meta = [f"overall: {_level_html(level)}", f"reference: {escape('; '.join(windows) or 'n/a')}",
            f"generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"]
    if run_id:
        meta.append(f"run {escape(run_id)}")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{escape(heading)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{escape(heading)}</h1>", f'<p class="muted">{" · ".join(meta)}</p>',
             _table(outcomes), _legend()]
    for feature in dict.fromkeys(o.feature for o in outcomes if o.feature is not None):
        parts.append(_feature_section(feature, [o for o in outcomes if o.feature == feature]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(outcomes: Sequence[DriftOutcome]) -> str:
    rows = ["<table><tr><th>feature</th><th>statistic</th><th>observed</th><th>reference</th>"
            "<th>current</th><th>thresholds</th><th>level</th><th>note</th></tr>"]
    for o in outcomes:
        rows.append(f"<tr><td>{escape(o.feature or '(rows)')}</td><td>{escape(o.statistic)}</td>"
                    f"<td>{_num(o.observed)}</td><td>{_num(o.reference_value)}</td><td>{_num(o.current_value)}</td>"
                    f"<td>{escape(o.thresholds)}</td><td>{_level_html(o.level)}</td><td>{escape(o.note)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _legend() -> str:
    return (f'<p class="legend muted"><span><i class="sw" style="background:{_REFERENCE}"></i>reference</span>'
            f'<span><i class="sw" style="background:{_CURRENT}"></i>current</span>'
            "share of non-null values per bin</p>")


def _feature_section(feature: str, outcomes: Sequence[DriftOutcome]) -> str:
    level = overall_level(outcomes)
    stats = " · ".join(f"{o.statistic}={_num(o.observed)} ({o.thresholds})" for o in outcomes)
    heading = f"{feature}: {level.value} · {stats}"
    psi = next((o for o in outcomes if o.statistic == PSI), None)
    chart = _svg(feature, psi.bins, heading) if psi and psi.bins else '<p class="muted">no histogram</p>'
    return (f'<section><h2 style="color:{_COLORS[level]}">{escape(feature)}: {level.value}</h2>'
            f'<p class="muted">{escape(stats)}</p>{chart}</section>')


def _svg(feature: str, bins: Sequence[Bin], title: str, width: int = 720, height: int = 220) -> str:
    """Grouped bars (reference, current) per bin; hover shows the bin range and both shares."""
    left, bottom, top = 44, 34, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(max(b.reference, b.current) for b in bins) or 1.0
    slot = plot_w / len(bins)
    bar = max(slot * 0.38, 1.0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(feature)} histogram"><title>{escape(title)}</title>',
           f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>']
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                   f'{peak * frac:.0%}</text>')
    for i, b in enumerate(bins):
        x = left + i * slot + slot * 0.1
        label = f"[{_edge(b.low, '-inf')}, {_edge(b.high, '+inf')})"
        for offset, share, color, who in ((0, b.reference, _REFERENCE, "reference"),
                                          (bar, b.current, _CURRENT, "current")):
            h = plot_h * share / peak
            out.append(f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}" fill="{color}"><title>{escape(label)}: {who} {share:.1%}</title></rect>')
        if b.low is not None:  # edge labels sit on the boundaries between bins
            out.append(f'<text x="{left + i * slot:.1f}" y="{top + plot_h + 14}" font-size="9" '
                       f'text-anchor="middle">{escape(_edge(b.low, ""))}</text>')
    out.append("</svg>")
    return "".join(out)


def _level_html(level: Level) -> str:
    return f'<span class="level" style="color:{_COLORS[level]}">{level.value}</span>'


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _edge(value: float | None, open_end: str) -> str:
    return open_end if value is None else f"{value:.4g}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "x"


__all__ = ["render_drift_report", "write_drift_report"]
