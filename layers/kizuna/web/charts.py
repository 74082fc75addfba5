"""Charts drawn as inline SVG on the server: no script, no CDN, nothing for the page's CSP to allow but inline
styles. Each chart is a function of plain numbers so it can be tested without a browser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    values: Sequence[float | None]


def _scale(maximum: float) -> float:
    """A round upper bound for the axis (1, 2, 5 × 10^n)."""
    if maximum <= 0:
        return 1.0
    step = 10 ** len(str(int(maximum))) / 100 if maximum >= 1 else 0.1
    for factor in (1, 2, 5, 10, 20, 50, 100):
        if step * factor >= maximum:
            return step * factor
    return maximum


def _frame(upper: float, labels: Sequence[str], percent: bool) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = upper * (4 - i) / 4
        text = f"{value * 100:.0f}%" if percent else (f"{value:,.0f}" if value == int(value) else f"{value:,.1f}")
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{text}</text>')
    every = max(1, len(labels) // 8)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            y = HEIGHT - BOTTOM + 16
            parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle" font-size="11">{escape(label)}</text>')
    return parts


def _legend(series: Sequence[Series]) -> str:
    items = "".join(f'<span class="key"><i style="background:{s.color}"></i>{escape(s.label)}</span>' for s in series)
    return f'<div class="legend">{items}</div>'


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> str:
    """Grouped bars, one group per label."""
    values = [v or 0.0 for s in series for v in s.values]
    upper = _scale(max(values, default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar_w = slot * 0.8 / max(1, len(series))
    parts = _frame(upper, labels, percent=False)
    for s_index, s in enumerate(series):
        for i, value in enumerate(s.values):
            if not value:
                continue
            h = plot_h * value / upper
            x = LEFT + slot * i + slot * 0.1 + bar_w * s_index
            parts.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{s.color}"><title>{escape(s.label)} {escape(labels[i])}: {value:,.0f}</title></rect>'
            )
    return _figure(title, parts, series)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], percent: bool = False) -> str:
    values = [v for s in series for v in s.values if v is not None]
    upper = 1.0 if percent else _scale(max(values, default=0.0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    parts = _frame(upper, labels, percent=percent)
    for s in series:
        points = [
            (LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * min(v, upper) / upper)
            for i, v in enumerate(s.values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="3"/>')
        for x, y in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{s.color}"/>')
    return _figure(title, parts, series)


def funnel(title: str, steps: Sequence[tuple[str, str, float]]) -> str:
    """Horizontal bars, widest first: (label, color, value)."""
    upper = max((v for _, _, v in steps), default=0.0) or 1.0
    row_h, label_w = 34, 150
    height = TOP + row_h * len(steps) + 8
    parts = []
    first = steps[0][2] if steps else 0.0
    for i, (label, color, value) in enumerate(steps):
        y = TOP + row_h * i
        w = (WIDTH - label_w - 120) * value / upper
        share = f" ({value / first:.1%})" if first and i else ""
        parts.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end" font-size="13">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 10}" fill="{color}"/>')
        parts.append(f'<text x="{label_w + w + 8:.1f}" y="{y + 20}" font-size="13">{value:,.0f}{share}</text>')
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}</figure>"


def _figure(title: str, parts: list[str], series: Sequence[Series]) -> str:
    svg = (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">{"".join(parts)}</svg>'
    )
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}{_legend(series)}</figure>"
