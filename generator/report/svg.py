"""The fleet picture's geometry: one bar per host, its length the host's duration, its colour the outcome.

Only numbers and the labels to draw; the template turns them into inline SVG (autoescaped), so no
text from the record reaches the page unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.report.model import PHASES, HostRun, Run

WIDTH = 760
LABEL_WIDTH = 170  # host names
VALUE_WIDTH = 190  # "rolled-back 12.3 s"
ROW = 20
BAR = 14
TOP = 22  # room for the axis caption


@dataclass(frozen=True)
class Bar:
    host: str
    status: str
    tone: str
    y: int
    width: float  # 0 when the host has no recorded duration
    label: str


@dataclass(frozen=True)
class FleetChart:
    width: int
    height: int
    label_width: int
    bar_area: int
    longest_s: float
    bars: tuple[Bar, ...]

    @property
    def value_x(self) -> int:
        return self.label_width + self.bar_area + 8


def fleet_chart(run: Run) -> FleetChart:
    area = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    longest = max((h.duration_s or 0.0 for h in run.hosts), default=0.0)
    bars = []
    for index, host in enumerate(run.hosts):
        seconds = host.duration_s
        width = round(area * seconds / longest, 1) if seconds and longest else 0.0
        shown = f"{seconds:.1f} s" if seconds is not None else "no duration recorded"
        label = f"{host.status}, {shown}"
        bars.append(Bar(host.host, host.status, host.tone, TOP + index * ROW, width, label))
    return FleetChart(WIDTH, TOP + len(bars) * ROW + 6, LABEL_WIDTH, area, longest, tuple(bars))


PHASE_WIDTH = 600
PHASE_COLOURS = {
    "capture": "#5b8fd1",
    "trial": "#9b7fd1",
    "change": "#3a3a3a",
    "verify": "#3a9a55",
    "rollback": "#e08a00",
}


@dataclass(frozen=True)
class Segment:
    phase: str
    x: float
    width: float
    ms: float
    colour: str


def phase_segments(host: HostRun) -> tuple[Segment, ...]:
    """One host's phases side by side in order, each as wide as its share of the recorded time."""
    timed = [(phase, host.phase_ms(phase)) for phase in PHASES]
    total = sum(ms for _, ms in timed if ms)
    segments: list[Segment] = []
    x = 0.0
    for phase, ms in timed:
        if not ms or not total:
            continue
        width = round(PHASE_WIDTH * ms / total, 1)
        segments.append(Segment(phase, x, width, ms, PHASE_COLOURS[phase]))
        x = round(x + width, 1)
    return tuple(segments)
