"""Standard five-field cron expressions for recurring maintenance windows.

APScheduler 3's ``CronTrigger.from_crontab`` numbers weekdays from Monday = 0, while cron
(and every operator) means Sunday = 0 or 7: ``0 1 * * 0`` would fire on Mondays. Numeric
weekdays are therefore rewritten to names before APScheduler sees them.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|[0-7a-z]+)(?:-([0-7a-z]+))?(?:/(\d+))?$")


def _day_number(token: str) -> int:
    if token.isdigit():
        day = int(token)
        if day > 7:
            raise ValueError(f"day of week {day} is out of range 0-7 (0 and 7 are Sunday)")
        return day % 7
    if token[:3] in _DAY_NAMES and len(token) == 3:
        return _DAY_NAMES.index(token)
    raise ValueError(f"unknown day of week {token!r}: use 0-7 or sun, mon, … sat")


def _standard_days(field: str) -> str:
    """Rewrite a cron day-of-week field (Sunday = 0/7) to APScheduler day names."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if match is None:
            raise ValueError(f"cannot read day of week {item!r}")
        first, last, step = match.group(1), match.group(2), int(match.group(3) or 1)
        if step < 1:
            raise ValueError(f"step {step} in {item!r} must be 1 or more")
        if first == "*":
            start, end = 0, 6
        else:
            start = _day_number(first)
            end = _day_number(last) if last else start
            if last and last.isdigit() and int(last) == 7:
                end = 7
        if end < start:
            raise ValueError(f"day range {item!r} runs backwards")
        days.update(d % 7 for d in range(start, end + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A trigger for a standard ``minute hour day month weekday`` expression.

    Raises ``ValueError`` with a readable message when the expression is invalid.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_standard_days(weekday),
            timezone=timezone,
        )
    except ValueError as exc:
        raise ValueError(str(exc)) from None
