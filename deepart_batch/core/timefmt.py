"""Time, read and written in one place: ISO timestamps in reports and events, durations in
the config and on the command line, and durations as people read them."""

from __future__ import annotations

import re
from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def iso(ts: float | None, timespec: str = "seconds") -> str | None:
    """A Unix time as ISO 8601 UTC (to the second, or `timespec`), or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec=timespec)


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", re.IGNORECASE)
# `m` alone is refused: people write it for minutes and for months alike.
_DURATION_UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60,
                   "h": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800,
                   "week": 604800, "mo": 30 * 86400, "month": 30 * 86400}


def parse_duration(text: str) -> float:
    """'30d', '12 h', '90min', '2 weeks', '3mo' -> seconds; ValueError saying what is
    allowed. A bare 'm' is ambiguous (minute or month) and refused."""
    m = _DURATION.fullmatch(text) if isinstance(text, str) else None
    unit = m and m.group(2).lower()
    unit = unit[:-1] if unit and unit.endswith("s") and unit[:-1] in _DURATION_UNITS else unit
    if m and unit == "m":
        raise ValueError(f"{text!r} is ambiguous: write {m.group(1)}min for minutes or "
                         f"{m.group(1)}mo for months")
    if not m or unit not in _DURATION_UNITS or float(m.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit, like 30d, "
                         f"12h, 90min, 3mo or '2 weeks'")
    return float(m.group(1)) * _DURATION_UNITS[unit]


def human_duration(seconds: float) -> str:
    """12.3 s, 15 min 31 s, 2 h 05 min: times people read at a glance."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
