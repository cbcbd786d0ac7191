"""Cutover compliance: every interruption inside a plan's window, against its budget.

A plan (``cutovers:`` in sites.yaml) names checks, a window and an interruption budget per
check ("không gián đoạn" = 0 s). An interruption is any outage of one of those checks, own
or UNREACHABLE behind a parent (users lost the service either way; the root cause is
listed), clipped to the window and to the time the monitor was running. Time the monitor
was not running is reported as unmonitored: it is never assumed to be uninterrupted.

Verdicts, per check and for the plan (its worst check):

* ``VIOLATED`` — interrupted longer than the budget (with a 0 s budget: at all);
* ``AT RISK`` — at least ``at_risk`` (default 80 %) of a non-zero budget used, or an
  interruption is going on now;
* ``OK`` — within budget so far; ``NOT STARTED`` before the window;
  ``UNKNOWN`` — the window has begun but the monitor never ran in it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.availability import History
from monitor.intervals import IntervalSet, total
from monitor.intervals import covered as covered_seconds
from monitor.store import OutageRow
from sites.inventory import Inventory
from sites.models import Cutover


class Verdict(enum.StrEnum):
    """A plan's or a check's standing against the budget (ordered from best to worst)."""

    NOT_STARTED = "NOT STARTED"
    OK = "OK"
    UNKNOWN = "UNKNOWN"
    AT_RISK = "AT RISK"
    VIOLATED = "VIOLATED"

    @property
    def rank(self) -> int:
        return list(Verdict).index(self)


@dataclass(frozen=True, slots=True)
class Interruption:
    """One outage inside the window; ``seconds`` is its part inside the window."""

    check: str
    name: str
    start: float
    end: float | None
    """None while it is still going on."""
    seconds: float
    reason: str
    blamed_on: str | None
    """For an unreachable outage: the ancestor check it is blamed on."""
    root_cause: int | None


@dataclass(frozen=True, slots=True)
class CheckBudget:
    """One check's use of the budget."""

    check: str
    name: str
    used: float
    budget: float
    interruptions: int
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class CutoverStatus:
    """Where one cutover plan stands at ``now``."""

    plan: Cutover
    start: float
    end: float
    now: float
    checks: int
    interruptions: tuple[Interruption, ...]
    budgets: tuple[CheckBudget, ...]
    """Only checks with interruptions (the others used nothing)."""
    unmonitored: float
    """Seconds of the elapsed window when the monitor was not running."""
    verdict: Verdict

    @property
    def used_total(self) -> float:
        return sum(b.used for b in self.budgets)

    @property
    def used_max(self) -> float:
        return max((b.used for b in self.budgets), default=0.0)


def _verdict(used: float, budget: float, ongoing: bool, at_risk: float) -> Verdict:
    if used > budget:
        return Verdict.VIOLATED
    if ongoing or (budget > 0 and used >= at_risk * budget):
        return Verdict.AT_RISK
    return Verdict.OK


def cutover_status(
    inventory: Inventory,
    history: History,
    plan_id: str,
    now: float,
    *,
    at_risk: float = 0.8,
) -> CutoverStatus:
    """The status of plan ``plan_id``; ``history`` must span the plan's window."""
    plan = inventory.cutovers[plan_id]
    start, end = plan.window.start.timestamp(), plan.window.end.timestamp()
    elapsed_end = min(end, now)
    covered = history.covered_between(start, elapsed_end) if elapsed_end > start else []
    return evaluate(
        plan,
        inventory.cutover_checks.get(plan_id, ()),
        {key: spec.name for key, spec in inventory.checks.items()},
        history.outages,
        covered,
        now,
        at_risk=at_risk,
    )


def evaluate(
    plan: Cutover,
    checks: Sequence[str],
    names: Mapping[str, str],
    outages: Mapping[str, Sequence[OutageRow]],
    covered: IntervalSet,
    now: float,
    *,
    at_risk: float = 0.8,
) -> CutoverStatus:
    """Judge ``plan`` from its checks' outages and the time the monitor was running
    (``covered``, clipped to the elapsed window). Pure: the dashboard and the reports
    both come here."""
    start, end = plan.window.start.timestamp(), plan.window.end.timestamp()
    elapsed_end = min(end, now)
    ends = [e for _, e in covered]
    interruptions: list[Interruption] = []
    budgets: list[CheckBudget] = []
    for check in checks:
        name = names.get(check, check)
        used, count, ongoing = 0.0, 0, False
        for o in outages.get(check, ()):
            stop = o.end_ts if o.end_ts is not None else elapsed_end
            if stop <= start or o.start_ts >= elapsed_end:
                continue
            seconds = covered_seconds(covered, ends, max(o.start_ts, start), min(stop, end))
            if seconds <= 0 and o.end_ts is not None:
                continue
            interruptions.append(
                Interruption(
                    check,
                    name,
                    o.start_ts,
                    o.end_ts,
                    seconds,
                    o.reason,
                    o.blamed_on if o.unreachable else None,
                    o.root_cause,
                )
            )
            used += seconds
            count += 1
            ongoing = ongoing or (o.end_ts is None and now < end)
        if count:
            verdict = _verdict(used, plan.budget, ongoing, at_risk)
            budgets.append(CheckBudget(check, name, used, plan.budget, count, verdict))
    unmonitored = max(0.0, elapsed_end - start) - total(covered)
    if now < start:
        verdict = Verdict.NOT_STARTED
    elif not covered:
        verdict = Verdict.UNKNOWN
    else:
        verdict = max((b.verdict for b in budgets), key=lambda v: v.rank, default=Verdict.OK)
    interruptions.sort(key=lambda i: (i.start, i.check))
    budgets.sort(key=lambda b: (-b.used, b.check))
    return CutoverStatus(
        plan,
        start,
        end,
        now,
        len(checks),
        tuple(interruptions),
        tuple(budgets),
        unmonitored,
        verdict,
    )
