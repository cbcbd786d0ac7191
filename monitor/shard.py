"""Dealing the checks to several monitor processes (``thongsuot run --procs N``).

One process runs about 10,000 checks a minute in a tenth of a core; a whole country
(about 100,000 a minute) wants one process per core. Each process runs its own engine
and store writer on the one shared SQLite file in WAL mode. SQLite lets one writer in at
a time: each writer commits a batch every second and holds the lock for a few
milliseconds, and ``BEGIN IMMEDIATE`` waits up to ``busy_timeout`` for the other, so they
rarely meet. Nothing is merged at read time: the dashboard and the reports read every
check from the same tables.

A check and everything it depends on run in the same process, because the engine judges
UNREACHABLE from its parents' live state. So the unit dealt is a connected group of the
dependency graph (a data centre's uplink and everything behind it), biggest first, each to
the process with the least load so far, load being checks per minute. The deal depends
only on the inventory, so a restart gives every process the same checks.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from sites.spec import CheckSpec


def split(specs: Iterable[CheckSpec], parts: int) -> list[list[CheckSpec]]:
    """``specs`` in ``parts`` lists (some may be empty), dependency groups kept whole."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    by_id = {s.id: s for s in specs}
    root = {key: key for key in by_id}

    def find(key: str) -> str:
        while root[key] != key:
            root[key] = root[root[key]]
            key = root[key]
        return key

    for spec in by_id.values():
        for dep in spec.depends_on:
            if dep in by_id:
                a, b = find(spec.id), find(dep)
                if a != b:
                    root[max(a, b)] = min(a, b)
    groups: dict[str, list[CheckSpec]] = {}
    for key, spec in by_id.items():
        groups.setdefault(find(key), []).append(spec)

    def load(group: list[CheckSpec]) -> float:
        return sum(60.0 / s.interval for s in group if s.lifecycle.probed)

    ordered = sorted(groups.items(), key=lambda item: (-load(item[1]), item[0]))
    shards: list[list[CheckSpec]] = [[] for _ in range(parts)]
    least = [(0.0, i) for i in range(parts)]
    for _, group in ordered:
        total, i = heapq.heappop(least)
        shards[i].extend(group)
        heapq.heappush(least, (total + load(group), i))
    return shards
