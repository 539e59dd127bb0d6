"""The daily shift calendar: which shift a moment belongs to, its bounds and its planned breaks (UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from edge_agent.config_line import ShiftConfig


@dataclass(frozen=True)
class ShiftWindow:
    """One occurrence of a shift: id (NAME@YYYY-MM-DD of its start), bounds and breaks in unix ms."""

    id: str
    name: str
    start_ms: int
    end_ms: int
    breaks: tuple[tuple[int, int], ...]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class ShiftCalendar:
    """Maps a timestamp to the shift occurrence it falls in; None outside every shift."""

    def __init__(self, shifts: list[ShiftConfig]) -> None:
        self.shifts = shifts

    def _occurrence(self, shift: ShiftConfig, day: datetime) -> ShiftWindow:
        start = day.replace(hour=shift.start.hour, minute=shift.start.minute, second=0, microsecond=0)
        end = start + timedelta(hours=shift.hours)
        breaks = []
        for pause in shift.breaks:
            begin = start.replace(hour=pause.start.hour, minute=pause.start.minute)
            if begin < start:  # a break after midnight in a shift that started the day before
                begin += timedelta(days=1)
            stop = min(begin + timedelta(minutes=pause.minutes), end)
            if begin < end:
                breaks.append((_ms(begin), _ms(stop)))
        return ShiftWindow(f"{shift.name}@{start.date().isoformat()}", shift.name, _ms(start), _ms(end), tuple(breaks))

    def shift_at(self, ts_ms: int) -> ShiftWindow | None:
        """The shift occurrence containing ts_ms (shifts that began the day before included)."""
        moment = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
        today = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        for day in (today, today - timedelta(days=1)):
            for shift in self.shifts:
                window = self._occurrence(shift, day)
                if window.start_ms <= ts_ms < window.end_ms:
                    return window
        return None

    def breaks_between(self, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
        """Every planned break overlapping [start_ms, end_ms), for rolling windows that cross shifts."""
        first = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        found: set[tuple[int, int]] = set()
        day = first - timedelta(days=1)
        while _ms(day) < end_ms:
            for shift in self.shifts:
                found.update(b for b in self._occurrence(shift, day).breaks if b[0] < end_ms and b[1] > start_ms)
            day += timedelta(days=1)
        return sorted(found)
