"""What every probe shares: the result type, typed options, the probe interface.

A probe answers one question about one target ("does this portal answer 200 within
2 s?") and returns an :class:`Observation`. A target that is down is data, not an
error: probes raise only for setup faults that an operator must fix (no permission to
open ICMP sockets, a missing CA file), as :class:`ProbeSetupError`.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Status(enum.StrEnum):
    """The verdict of one observation."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


Value = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one check of one target.

    ``latency_ms`` is the time the protocol exchange took (``None`` when nothing
    answered). ``values`` holds raw measurements (``rtt_avg_ms``, ``http_status``,
    ``cert_days_left``, ``sys_uptime_s`` …) for history, charts and inventory facts.
    ``reason`` is a short sentence for a human: "HTTP 503", "connect timeout after 3.0 s".
    """

    status: Status
    reason: str = ""
    latency_ms: float | None = None
    values: Mapping[str, Value] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @classmethod
    def up(cls, latency_ms: float | None, reason: str = "", **values: Value) -> Observation:
        return cls(Status.OK, reason, latency_ms, values)

    @classmethod
    def degraded(cls, reason: str, latency_ms: float | None = None, **values: Value) -> Observation:
        return cls(Status.DEGRADED, reason, latency_ms, values)

    @classmethod
    def down(cls, reason: str, latency_ms: float | None = None, **values: Value) -> Observation:
        return cls(Status.DOWN, reason, latency_ms, values)


class ProbeSetupError(Exception):
    """A fault in the monitoring host or configuration, not in the target.

    The message says what to do about it.
    """


class ProbeOptions(BaseModel):
    """Options every probe kind accepts. Each kind subclasses this with its own fields.

    The inventory builds its check schema from these classes, so a field's docstring
    is also its documentation for ``sites.yaml``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    timeout: float = Field(default=5.0, gt=0, le=300)
    """Hard deadline for one check, in seconds; a check still running then is DOWN."""


OptionsT = TypeVar("OptionsT", bound=ProbeOptions)


class Probe(Generic[OptionsT]):
    """One protocol. Subclasses set ``kind`` and ``Options`` and implement ``check``.

    A probe instance is long-lived and may hold shared resources (an SNMP engine, an
    HTTP connector); ``start``/``close`` bracket its life. ``concurrency`` bounds how
    many checks of this kind run at once.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[ProbeOptions]]
    concurrency: ClassVar[int] = 200
    batched: ClassVar[bool] = False
    """Whether the engine hands this kind's checks that fall due together to one
    :meth:`check_many` call instead of running each as a task of its own. For a probe
    that does many targets at once better than one by one (a burst of pings)."""

    async def start(self) -> None:
        """Acquire shared resources. Called once before the first check."""

    async def close(self) -> None:
        """Release shared resources."""

    def deadline(self, options: OptionsT) -> float:
        """The longest one check may take, in seconds; the engine cancels it after that.

        ``options.timeout`` by default; a probe whose timeout is per packet overrides it.
        """
        return options.timeout

    async def check(self, options: OptionsT) -> Observation:
        raise NotImplementedError

    async def check_many(self, batch: Sequence[OptionsT]) -> list[Observation | Exception]:
        """Check several targets at once: one result per option, in order, either its
        Observation or the exception its check raised. By default the checks run side by
        side; a ``batched`` probe overrides this with something cheaper."""
        results = await asyncio.gather(*map(self.check, batch), return_exceptions=True)
        return [
            r if isinstance(r, Observation | Exception) else RuntimeError(f"check ended by {r!r}")
            for r in results
        ]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def safe_text(raw: bytes | str | Any, limit: int = 200) -> str:
    """Turn text that came from the network into one printable, bounded line.

    Control characters (including ANSI escapes and bidi overrides) become U+FFFD or
    spaces, invalid UTF-8 is replaced, and the result is cut to ``limit`` characters.
    Markup is *not* escaped here: whoever renders with markup escapes at that point.
    """
    if isinstance(raw, bytes):
        raw = raw[: limit * 4].decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = str(raw)
    text = raw[: limit * 2].replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    text = _CONTROL.sub("\ufffd", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_seconds(seconds: float) -> str:
    """ "3.0 s", "250 ms": how reasons quote durations."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


_OS_ERRORS = {
    errno.ECONNREFUSED: "connection refused",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNRESET: "connection reset",
    errno.EPIPE: "connection reset",
    errno.ETIMEDOUT: "connect timed out in the kernel",
    errno.EACCES: "blocked by the local firewall",
    errno.EPERM: "blocked by the local firewall",
    errno.EADDRNOTAVAIL: "no local address available",
}


def describe_os_error(exc: OSError) -> str:
    """A socket error in the words every probe uses: "connection refused", "no route to host"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return _OS_ERRORS.get(exc.errno or 0) or safe_text(
        f"connect failed: {exc.strerror or exc}", 120
    )
