"""The lifecycle timeline's geometry: stage intervals as bars along a time axis, moves as marks.

Pure: it turns a domain Timeline into numbers and labels; the template draws
the SVG, so the page needs no script and every bar has a text tooltip.
"""
import datetime
from dataclasses import dataclass

from ..domain.timeline import Timeline
from ..domain.values import AuditEntry

WIDTH = 1000
LANES = {"Production": 12, "Staging": 52}
LANE_HEIGHT = 28
_MIN_BAR = 3


@dataclass(frozen=True)
class Bar:
    version: int
    stage: str
    x: float
    width: float
    y: int
    label: str
    current: bool
    title: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: int
    title: str


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    marks: tuple[Mark, ...]
    start: datetime.datetime | None
    end: datetime.datetime


def _when(t):
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(move: AuditEntry) -> str:
    """One move in words: who, what, why."""
    text = f"{_when(move.created_at)}: {move.actor} moved version {move.version} {move.from_stage} → {move.to_stage}"
    if move.cause:
        text += f" ({move.cause})"
    if move.comment:
        text += f": “{move.comment}”"
    return text


def draw(timeline: Timeline, now: datetime.datetime) -> Chart:
    if not timeline.intervals:
        return Chart(bars=(), marks=(), start=None, end=now)
    start = min(i.start for i in timeline.intervals)
    span = max((now - start).total_seconds(), 1.0)

    def x(t):
        return round((t - start).total_seconds() / span * WIDTH, 2)

    bars = []
    for i in timeline.intervals:
        left, right = x(i.start), x(i.end or now)
        width = max(right - left, _MIN_BAR)
        until = f"until {_when(i.end)}" if i.end else "until now"
        reason = []
        if i.entered is not None:
            reason.append(f"entered by {i.entered.actor}" + (f": “{i.entered.comment}”" if i.entered.comment else ""))
        if i.left is not None:
            reason.append(f"left ({i.left.cause or 'moved to ' + str(i.left.to_stage)}) by {i.left.actor}")
        title = f"Version {i.version} in {i.stage} from {_when(i.start)} {until}; " + "; ".join(reason)
        bars.append(Bar(version=i.version, stage=i.stage, x=left, width=round(width, 2), y=LANES[i.stage],
                        label=f"v{i.version}" if width >= 30 else "", current=i.end is None, title=title))
    marks = []
    for move in timeline.moves:
        lane = LANES.get(move.to_stage or "") or LANES[move.from_stage or ""]
        marks.append(Mark(x=x(move.created_at), y=lane + LANE_HEIGHT + 2, title=describe(move)))
    return Chart(bars=tuple(bars), marks=tuple(marks), start=start, end=now)
