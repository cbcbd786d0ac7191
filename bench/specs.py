"""Synthetic checks for the benchmarks: a no-network probe and its check specs."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from probes.base import Observation, Probe, ProbeOptions
from sites.spec import CheckSpec, ElementType, Lifecycle


class NoopOptions(ProbeOptions):
    """Options of the benchmark's no-network probe."""

    delay: float = 0.0
    """Seconds each check sleeps before answering OK (0: answer at once)."""


class NoopProbe(Probe[NoopOptions]):
    """Answers OK (after ``delay``): isolates the scheduler's and store's own cost."""

    kind = "noop"
    Options = NoopOptions
    concurrency: ClassVar[int] = 100_000

    async def check(self, options: NoopOptions) -> Observation:
        if options.delay:
            await asyncio.sleep(options.delay)
        return Observation.up(options.delay * 1000)


def spec(
    key: str,
    kind: str,
    options: ProbeOptions,
    interval: float,
    name: str | None = None,
    fail_after: int = 3,
) -> CheckSpec:
    """An active site check with retries at the same interval (so lateness is plain)."""
    element = key.rsplit(".", 1)[0]
    return CheckSpec(
        id=key,
        name=name or f"Điểm thử {key}",
        kind=kind,
        options=options,
        element=element,
        element_type=ElementType.SITE,
        datacenter=None,
        site=element,
        role="wan",
        lifecycle=Lifecycle.ACTIVE,
        interval=interval,
        retry_interval=interval,
        fail_after=fail_after,
        recover_after=2,
    )


def sleep_specs(n: int, interval: float, delay: float = 0.0) -> list[CheckSpec]:
    """``n`` checks of the no-network probe."""
    options = NoopOptions(delay=delay)
    return [spec(f"bench-{i:05d}.ping", "noop", options, interval) for i in range(n)]
