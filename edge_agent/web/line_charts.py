"""Server-side SVGs of line performance: the loss waterfall of a shift and the hourly OEE trend (offline, no JS lib)."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 420, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 34, 8, 32, 34
_STEPS = (
    ("breakdowns", "break-\ndowns", "#c62828"),
    ("setup", "setup", "#ef6c00"),
    ("other_stops", "other\nstops", "#f9a825"),
    ("small_stops", "small\nstops", "#8d6e63"),
    ("reduced_speed", "speed", "#6d4c41"),
    ("defects", "defects", "#6a1b9a"),
    ("startup_rejects", "start-up\nrejects", "#ad1457"),
)
_TEXT, _GRID, _GOOD, _PLANNED = "#333333", "#d0d0d0", "#2e7d32", "#546e7a"


def _text(x: float, y: float, body: str, anchor: str = "middle", size: int = 9, fill: str = _TEXT) -> str:
    lines = body.split("\n")
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else size + 1}">{escape(t)}</tspan>' for i, t in enumerate(lines)
    )
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-family="sans-serif" '
        f'fill="{fill}">{spans}</text>'
    )


def _frame(label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]


def waterfall_svg(unit: str, kpi: dict[str, Any] | None, title: str) -> str:
    """Planned time, minus each of the six big losses (plus longer stops), down to fully productive time (minutes)."""
    parts = _frame(f"loss waterfall of {unit}")
    if not kpi or not kpi.get("planned_s"):
        parts.append(_text(_LEFT, 16, f"{unit}: no planned time with data yet", "start", 12))
        return "".join([*parts, "</svg>"])
    planned = kpi["planned_s"] / 60
    bars: list[tuple[str, float, float, str]] = [("planned", 0.0, planned, _PLANNED)]
    level = planned
    for key, label, colour in _STEPS:
        loss = max(kpi["losses_min"].get(key, 0.0), 0.0)
        bars.append((label, level - loss, level, colour))
        level -= loss
    bars.append(("good\n(OEE)", 0.0, max(level, 0.0), _GOOD))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    step = plot_w / len(bars)

    def y_of(minutes: float) -> float:
        return _TOP + plot_h * (1 - minutes / planned)

    for fraction in (0.0, 0.5, 1.0):
        y = y_of(planned * fraction)
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(_text(_LEFT - 3, y + 3, f"{planned * fraction:.0f}", "end"))
    for i, (label, low, high, colour) in enumerate(bars):
        x = _LEFT + i * step + 2
        height = max(y_of(low) - y_of(high), 0.5)
        parts.append(
            f'<rect x="{x:.1f}" y="{y_of(high):.1f}" width="{step - 4:.1f}" height="{height:.1f}" fill="{colour}">'
            f"<title>{escape(label.replace(chr(10), ' '))}: {high - low:.1f} min</title></rect>"
        )
        parts.append(_text(x + (step - 4) / 2, y_of(high) - 2, f"{high - low:.0f}", size=8))
        parts.append(_text(x + (step - 4) / 2, HEIGHT - _BOTTOM + 11, label, size=8))
    oee = kpi.get("oee")
    unknown = kpi.get("unknown_s", 0) / 60
    header = f"{unit} {title}: OEE {oee * 100:.1f}%" if oee is not None else f"{unit} {title}"
    parts.append(_text(_LEFT, 14, f"{header} · min · unknown {unknown:.0f}", "start", 11))
    return "".join([*parts, "</svg>"])


def trend_svg(unit: str, points: list[dict[str, Any]]) -> str:
    """Hourly OEE (solid) and availability (dashed), 0-100%, oldest hour left."""
    parts = _frame(f"OEE trend of {unit}")
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    for value in (0, 50, 100):
        y = _TOP + plot_h * (1 - value / 100)
        parts.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(_text(_LEFT - 3, y + 3, f"{value}%", "end"))
    usable = [p for p in points if p.get("oee") is not None]
    if not usable:
        parts.append(_text(_LEFT, 14, f"{unit}: no hourly OEE yet", "start", 11))
        return "".join([*parts, "</svg>"])
    step = plot_w / max(len(usable) - 1, 1)

    def xy(i: int, value: float) -> str:
        return f"{_LEFT + i * step:.1f},{_TOP + plot_h * (1 - min(max(value, 0.0), 1.2) / 1.0):.1f}"

    for key, style in (("availability", ' stroke-dasharray="3 2" stroke="#546e7a"'), ("oee", f' stroke="{_GOOD}"')):
        line = " ".join(xy(i, p[key] or 0.0) for i, p in enumerate(usable))
        parts.append(f'<polyline points="{line}" fill="none" stroke-width="1.5"{style}/>')
    latest = usable[-1]["oee"]
    parts.append(
        _text(_LEFT, 14, f"{unit}: hourly OEE, latest {latest * 100:.1f}% (dashed: availability)", "start", 11)
    )
    parts.append(_text(_LEFT, HEIGHT - 6, f"-{len(usable)} h", "start"))
    parts.append(_text(WIDTH - _RIGHT, HEIGHT - 6, "now", "end"))
    return "".join([*parts, "</svg>"])
