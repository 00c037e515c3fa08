"""Bar charts as inline SVG, drawn on the server: no script, no CDN, printable and readable without
JavaScript. Horizontal bars, because the category labels are long Chinese names."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 660
LABEL_W = 190
VALUE_W = 70
ROW_H = 26
BAR_H = 16
TOP = 8
LEGEND_H = 22
FONT = 'font-family="WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, sans-serif"'
MUTED = "#5b6b7b"


def _short(label: str, limit: int = 13) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(height: int, body: list[str], title: str, testid: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width:{WIDTH}px" role="img" aria-label="{escape(title)}" data-testid="{escape(testid)}" {FONT} '
        f'font-size="12"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _empty(title: str, testid: str, text: str) -> Markup:
    return _svg(40, [f'<text x="{WIDTH // 2}" y="24" text-anchor="middle" fill="{MUTED}">{escape(text)}</text>'],
                title, testid)


def bar_chart(items: Sequence[tuple[str, float | None]], *, title: str, testid: str, max_value: float = 1.0,
              fmt: Callable[[float], str] = lambda v: f"{v:.1%}", target: float | None = None,
              target_label: str = "", good_if_at_least: bool = True, empty_text: str = "无数据 / No data",
              color: str = "#1f5f99") -> Markup:
    """One bar per item; a dashed target line when `target` is given, bars on the wrong side of it red."""
    if not items:
        return _empty(title, testid, empty_text)
    plot_w = WIDTH - LABEL_W - VALUE_W
    height = TOP + ROW_H * len(items) + (LEGEND_H if target is not None else 6)
    body = []
    for i, (label, value) in enumerate(items):
        y = TOP + i * ROW_H
        body.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 3}" text-anchor="end" fill="#1d2733">'
                    f'<title>{escape(label)}</title>{escape(_short(label))}</text>')
        body.append(f'<rect x="{LABEL_W}" y="{y}" width="{plot_w}" height="{BAR_H}" fill="#eef1f4"/>')
        if value is None:
            body.append(f'<text x="{LABEL_W + 6}" y="{y + BAR_H - 3}" fill="{MUTED}">—</text>')
            continue
        fill = color
        if target is not None and ((value < target) if good_if_at_least else (value > target)):
            fill = "#b3261e"
        w = max(0.0, min(1.0, value / max_value if max_value else 0)) * plot_w
        body.append(f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{fill}" rx="2"/>')
        body.append(f'<text x="{LABEL_W + plot_w + 6}" y="{y + BAR_H - 3}" fill="#1d2733">{escape(fmt(value))}</text>')
    if target is not None:
        x = LABEL_W + min(1.0, target / max_value) * plot_w
        bottom = TOP + ROW_H * len(items)
        body.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{bottom - 6}" stroke="#e3a33b" '
                    f'stroke-width="2" stroke-dasharray="4 3"/>')
        body.append(f'<text x="{x:.1f}" y="{bottom + 10}" text-anchor="middle" fill="#8a5a00">'
                    f'{escape(target_label or fmt(target))}</text>')
    return _svg(height, body, title, testid)


def stacked_bar_chart(items: Sequence[tuple[str, Sequence[int]]], series: Sequence[tuple[str, str]], *, title: str,
                      testid: str, empty_text: str = "无数据 / No data") -> Markup:
    """One bar per item split into `series` (label, colour) segments, scaled to the largest total."""
    if not items or not any(sum(values) for _label, values in items):
        return _empty(title, testid, empty_text)
    plot_w = WIDTH - LABEL_W - VALUE_W
    largest = max(sum(values) for _label, values in items)
    height = TOP + ROW_H * len(items) + LEGEND_H
    body = []
    for i, (label, values) in enumerate(items):
        y = TOP + i * ROW_H
        body.append(f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 3}" text-anchor="end" fill="#1d2733">'
                    f'<title>{escape(label)}</title>{escape(_short(label))}</text>')
        x = float(LABEL_W)
        for (name, colour), value in zip(series, values):
            if not value:
                continue
            w = value / largest * plot_w
            body.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{colour}">'
                        f'<title>{escape(name)}: {value}</title></rect>')
            x += w
        body.append(f'<text x="{LABEL_W + plot_w + 6}" y="{y + BAR_H - 3}" fill="#1d2733">{sum(values)}</text>')
    x = float(LABEL_W)
    legend_y = TOP + ROW_H * len(items) + 4
    for name, colour in series:
        body.append(f'<rect x="{x:.0f}" y="{legend_y}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{x + 14:.0f}" y="{legend_y + 9}" fill="{MUTED}">{escape(name)}</text>')
        x += 14 + 13 * len(name) + 14
    return _svg(height, body, title, testid)
