"""Server-side SVG trend chart of an asset's health (no JavaScript chart library, works offline)."""

from __future__ import annotations

from html import escape

from edge_agent.web.snapshot import HealthPoint

WIDTH, HEIGHT = 360, 130
_LEFT, _RIGHT, _TOP, _BOTTOM = 30, 8, 22, 18
_HEALTHY_STATES = ("healthy",)
_COLOURS = {"line": "#2e7d32", "anomaly": "#6d6d6d", "fault": "#c62828", "grid": "#d0d0d0", "text": "#333333"}


def _ago(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"-{seconds:.0f} s"
    if seconds < 7200:
        return f"-{seconds / 60:.0f} min"
    return f"-{seconds / 3600:.1f} h"


def health_chart_svg(asset: str, points: list[HealthPoint]) -> str:
    """Health index (0..1, solid) and anomaly score (dashed, scaled) over time; fault states as red dots."""
    title = escape(asset)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="health trend of {title}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    for value in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - value)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="{_COLOURS["grid"]}"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif" fill="{_COLOURS["text"]}">{value:.1f}</text>'
        )
    ordered = sorted(points, key=lambda p: p.ts_ms)
    if not ordered:
        header = f"{title}: no health data yet"
    else:
        latest = ordered[-1]
        header = f"{title}: {escape(latest.state)}, health {latest.health_index:.2f}"
        first, last = ordered[0].ts_ms, ordered[-1].ts_ms
        span = max(last - first, 1)
        peak = max(1.0, max(p.anomaly_score for p in ordered))

        def x_of(point: HealthPoint) -> float:
            return _LEFT + plot_w * (point.ts_ms - first) / span if len(ordered) > 1 else _LEFT + plot_w

        def y_of(value: float) -> float:
            return _TOP + plot_h * (1 - min(max(value, 0.0), 1.0))

        health = " ".join(f"{x_of(p):.1f},{y_of(p.health_index):.1f}" for p in ordered)
        anomaly = " ".join(f"{x_of(p):.1f},{y_of(p.anomaly_score / peak):.1f}" for p in ordered)
        parts.append(
            f'<polyline points="{anomaly}" fill="none" stroke="{_COLOURS["anomaly"]}" '
            'stroke-width="1" stroke-dasharray="3 2"/>'
        )
        parts.append(f'<polyline points="{health}" fill="none" stroke="{_COLOURS["line"]}" stroke-width="1.5"/>')
        for point in ordered:
            if point.state not in _HEALTHY_STATES:
                parts.append(
                    f'<circle cx="{x_of(point):.1f}" cy="{y_of(point.health_index):.1f}" r="2.5" '
                    f'fill="{_COLOURS["fault"]}"><title>{escape(point.state)}</title></circle>'
                )
        parts.append(
            f'<text x="{_LEFT}" y="{HEIGHT - 4}" font-size="10" font-family="sans-serif" '
            f'fill="{_COLOURS["text"]}">{_ago(last - first)}</text>'
        )
        parts.append(
            f'<text x="{WIDTH - _RIGHT}" y="{HEIGHT - 4}" font-size="10" text-anchor="end" '
            f'font-family="sans-serif" fill="{_COLOURS["text"]}">latest</text>'
        )
        parts.append(
            f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 4}" font-size="10" text-anchor="middle" font-family="sans-serif" '
            f'fill="{_COLOURS["anomaly"]}">dashed: anomaly score / {peak:.2g}</text>'
        )
    parts.append(
        f'<text x="{_LEFT}" y="14" font-size="12" font-family="sans-serif" fill="{_COLOURS["text"]}">{header}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
