"""Hand-written SVG charts (no JavaScript library, works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

from gateway.web.i18n import _


def no_data() -> str:
    return _("no data")


def no_flows() -> str:
    return _("no cross-border flows")


PALETTE = ("#2f6fb3", "#d9822b", "#3f9c5a", "#b3413f", "#7d5fb2", "#6b7d8c")


def _fmt(v: float) -> str:
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 1_000:
        return f"{v / 1_000:.1f}k"
    return f"{v:g}"


def bar_chart(items: Sequence[tuple[str, float]], title: str, width: int = 460, height: int = 220,
              color: str = PALETTE[0], chart_id: str = "", empty: str = "") -> Markup:
    """Vertical bars with value labels; an empty series renders an explicit 'no data' chart."""
    pad_l, pad_b, pad_t = 44, 42, 28
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" id="{escape(chart_id)}" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
             f'aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" class="axis"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + plot_h}" class="axis"/>']
    top = max((v for _, v in items), default=0) or 1
    for frac in (0.5, 1.0):
        y = pad_t + plot_h - frac * plot_h
        parts.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{pad_l + plot_w}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(top * frac)}</text>')
    if not items:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">{escape(empty or no_data())}</text>')
    n = max(len(items), 1)
    slot = plot_w / n
    bar_w = max(4.0, min(48.0, slot * 0.7))
    for i, (label, value) in enumerate(items):
        h = (value / top) * plot_h
        x = pad_l + i * slot + (slot - bar_w) / 2
        y = pad_t + plot_h - h
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.5):.1f}" '
                     f'fill="{color}" data-label="{escape(label)}" data-value="{value:g}">'
                     f'<title>{escape(label)}: {value:g}</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="val">{_fmt(value)}</text>')
        short = label if len(label) <= 10 else label[:9] + "…"
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{pad_t + plot_h + 14}" text-anchor="middle" '
                     f'class="tick">{escape(short)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(items: Sequence[tuple[str, float]], title: str, width: int = 460, height: int = 220,
               color: str = PALETTE[1], chart_id: str = "", empty: str = "") -> Markup:
    """A line with points over ordered periods (a <path>)."""
    pad_l, pad_b, pad_t = 44, 42, 28
    plot_w, plot_h = width - pad_l - 14, height - pad_b - pad_t
    top = max((v for _, v in items), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" id="{escape(chart_id)}" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" class="axis"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + plot_h}" class="axis"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 4}" text-anchor="end" class="tick">{_fmt(top)}</text>']
    if not items:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">{escape(empty or no_data())}</text>')
    n = len(items)
    pts = []
    for i, (label, value) in enumerate(items):
        x = pad_l + (plot_w * (i + 0.5) / n)
        y = pad_t + plot_h - (value / top) * plot_h
        pts.append((x, y, label, value))
    if pts:
        d = "M " + " L ".join(f"{x:.1f} {y:.1f}" for x, y, _, _ in pts)
        parts.append(f'<path class="line" d="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, label, value in pts:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(label)}: '
                         f'{value:g}</title></circle>')
            parts.append(f'<text x="{x:.1f}" y="{pad_t + plot_h + 14}" text-anchor="middle" class="tick">'
                         f'{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def flow_chart(flows: Sequence[dict[str, Any]], title: str, width: int = 460, height: int = 220, chart_id: str = "",
               empty: str = "") -> Markup:
    """Cross-border flows: one arrow per (from -> to) pair, thickness by count."""
    juris = sorted({f["from"] for f in flows} | {f["to"] for f in flows})
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart flow-chart" id="{escape(chart_id)}" '
             f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
             f'<text x="{width / 2}" y="16" text-anchor="middle" class="chart-title">{escape(title)}</text>']
    if not flows:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="empty">{escape(empty or no_flows())}</text>')
    pos = {}
    for i, j in enumerate(juris):
        x = 40 + (width - 80) * (i / max(len(juris) - 1, 1))
        pos[j] = x
        parts.append(f'<circle cx="{x:.1f}" cy="{height / 2}" r="16" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x:.1f}" y="{height / 2 + 32}" text-anchor="middle" class="tick">{escape(j)}</text>')
    top = max((f["transfers"] + f["trades"] for f in flows), default=1) or 1
    for k, f in enumerate(flows):
        x1, x2 = pos[f["from"]], pos[f["to"]]
        count = f["transfers"] + f["trades"]
        lift = 40 + 14 * (k % 3)
        y = height / 2 - 18
        sign = -1 if x2 > x1 else 1
        mid = (x1 + x2) / 2
        d = f"M {x1:.1f} {y:.1f} Q {mid:.1f} {y + sign * lift:.1f} {x2:.1f} {y:.1f}"
        parts.append(f'<path class="flow" d="{d}" fill="none" stroke="#555" stroke-width="{1 + 4 * count / top:.1f}" '
                     f'marker-end="url(#arrow)"><title>{escape(f["from"])} → {escape(f["to"])}: '
                     f'{f["transfers"]} / {f["trades"]}</title></path>')
    parts.append("</svg>")
    return Markup("".join(parts))
