"""The comparison figure of report.html: each pooling approach's estimate and CI beside the published one.

Drawn as inline SVG from the comparison table, not by R: it draws numbers metafor already
computed (nothing is estimated here), needs no plotting library, scales with the page
(viewBox) and keeps each mark's exact value in data-value, so a test can check it.
"""

from __future__ import annotations

import math

import pandas as pd

from ketabridge.formatting import number_text, plain_number, text

WIDTH = 760
LABEL_WIDTH = 150  # the approach names, left
VALUE_WIDTH = 190  # "62 % [34 %, 83 %]", right
ROW = 30
TOP = 34
BOTTOM = 46
OURS = "#1f5fa8"
PUBLISHED = "#b3471d"


def comparison_svg(comparison: pd.DataFrame, analysis: str, percent: bool) -> str:
    """Our estimates with CIs (one row per approach) and the published one, on a shared axis."""
    published = comparison.iloc[0]
    rows = [(str(row.approach), row.estimate, row.conf_low, row.conf_high, "ours") for row in comparison.itertuples()]
    source = "published" + (f" (k = {int(published['published_k'])})" if pd.notna(published["published_k"]) else "")
    rows.append(
        (
            source,
            published["published_estimate"],
            published["published_conf_low"],
            published["published_conf_high"],
            "published",
        )
    )
    values = [v for _, *numbers, _ in rows for v in numbers if pd.notna(v)]
    low, high = _axis_range(min(values), max(values), percent)
    left, right = LABEL_WIDTH, WIDTH - VALUE_WIDTH
    height = TOP + ROW * len(rows) + BOTTOM

    def x(value: float) -> float:
        return round(left + (value - low) / (high - low) * (right - left), 2)

    def shown(value: float) -> str:
        return number_text("estimate", float(value), percent)

    parts = [
        f'<svg class="comparison" role="img" viewBox="0 0 {WIDTH} {height}" data-analysis="{text(analysis)}" '
        f'aria-label="Pooled estimates of {text(analysis)} beside the published estimate" '
        f'data-axis-low="{low!r}" data-axis-high="{high!r}" data-x-left="{left}" data-x-right="{right}">',
        f'<text x="{left}" y="18" class="head">Approach: estimate and CI</text>',
        f'<text x="{WIDTH - 4}" y="18" class="head" text-anchor="end">Estimate [CI]</text>',
    ]
    # the published CI as a band behind every row, and its estimate as a dashed line
    p_low, p_high, p_estimate = (
        published[c] for c in ("published_conf_low", "published_conf_high", "published_estimate")
    )
    body_top, body_bottom = TOP, TOP + ROW * len(rows)
    if pd.notna(p_low) and pd.notna(p_high):
        parts.append(
            f'<rect x="{x(p_low)}" y="{body_top}" width="{x(p_high) - x(p_low)}" height="{body_bottom - body_top}" '
            f'fill="{PUBLISHED}" fill-opacity="0.08"/>'
        )
    if pd.notna(p_estimate):
        parts.append(
            f'<line x1="{x(p_estimate)}" x2="{x(p_estimate)}" y1="{body_top}" y2="{body_bottom}" '
            f'stroke="{PUBLISHED}" stroke-dasharray="4 3" stroke-width="1"/>'
        )
    for number, (name, estimate, conf_low, conf_high, who) in enumerate(rows):
        y = TOP + ROW * number + ROW / 2
        colour = OURS if who == "ours" else PUBLISHED
        parts.append(
            f'<g class="row {who}" data-approach="{text(name)}" data-estimate="{float(estimate)!r}" '
            f'data-conf-low="{float(conf_low)!r}" data-conf-high="{float(conf_high)!r}">'
        )
        parts.append(f'<text x="{left - 10}" y="{y + 4}" text-anchor="end">{text(name)}</text>')
        if pd.notna(conf_low) and pd.notna(conf_high):
            parts.append(
                f'<line x1="{x(conf_low)}" x2="{x(conf_high)}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
            )
        if pd.notna(estimate):
            if who == "ours":
                parts.append(f'<rect x="{x(estimate) - 5}" y="{y - 5}" width="10" height="10" fill="{colour}"/>')
            else:
                cx = x(estimate)
                parts.append(f'<polygon points="{cx - 8},{y} {cx},{y - 7} {cx + 8},{y} {cx},{y + 7}" fill="{colour}"/>')
        interval = f"[{shown(conf_low)}, {shown(conf_high)}]" if pd.notna(conf_low) else ""
        parts.append(
            f'<text x="{WIDTH - 4}" y="{y + 4}" text-anchor="end" fill="{colour}">{shown(estimate)} {interval}</text>'
        )
        parts.append("</g>")
    axis_y = body_bottom + 6
    parts.append(f'<line x1="{left}" x2="{right}" y1="{axis_y}" y2="{axis_y}" stroke="#444"/>')
    for tick in _ticks(low, high):
        parts.append(
            f'<line x1="{x(tick)}" x2="{x(tick)}" y1="{axis_y}" y2="{axis_y + 5}" stroke="#444"/>'
            f'<text x="{x(tick)}" y="{axis_y + 19}" text-anchor="middle">{shown(tick) if percent else plain_number(tick)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _axis_range(low: float, high: float, percent: bool) -> tuple[float, float]:
    """A little wider than the data, on round numbers; proportions start at 0 and end at 1 or above."""
    if percent:
        return min(0.0, math.floor(low * 10) / 10), max(1.0, math.ceil(high * 10) / 10)
    step = _step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def _ticks(low: float, high: float) -> list[float]:
    step = _step(high - low)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    tick = first
    while tick * step <= high + 1e-9:
        ticks.append(round(tick * step, 10))
        tick += 1
    return ticks


def _step(span: float) -> float:
    """A round tick step that gives 4 to 10 ticks over `span`."""
    if span <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(span))
    for factor in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10):
        if span / (factor * magnitude) <= 10:
            return factor * magnitude
    return 10 * magnitude
