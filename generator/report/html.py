"""Render the report view as one self-contained HTML page: inline CSS and SVG, no script, no network.

Jinja2 autoescaping is on for the whole page: every string from the record (a title holding
`<script>` or `<!--`, a host name, a netsh output line) reaches the page as text, never as markup.
The page is then encoded as ASCII with character references, so it survives any mail gateway or
ticket system that mangles non-ASCII bytes.
"""

from __future__ import annotations

from functools import cache

import jinja2

from generator.render import template_dir
from generator.report.model import PHASES, Report
from generator.report.svg import PHASE_COLOURS, PHASE_WIDTH, fleet_chart, phase_segments

TEMPLATE = "report.html.j2"


def duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["duration"] = duration
    return env


def render_html(report: Report) -> bytes:
    page = (
        environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            phases=PHASES,
            fleet_chart=fleet_chart,
            phase_segments=phase_segments,
            phase_width=PHASE_WIDTH,
            phase_colours=PHASE_COLOURS,
        )
    )
    return page.encode("ascii", "xmlcharrefreplace")
