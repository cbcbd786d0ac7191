"""HTTP(S) against Prometheus' blackbox_exporter: not built yet.

The plan (issue #5): one nginx target (HTTP, and HTTPS with a private CA), a new
connection per check for both; ours times ``HttpProbe.check`` in-process, blackbox is
driven through ``/probe`` and its CPU read from /proc; checks per second per core,
ratio ours/peer, targets 2.0 (HTTP) and 1.3 (HTTPS).
"""

from __future__ import annotations

import argparse

from bench import Row, skipped

NAME = "http"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet."""


def run(args: argparse.Namespace) -> list[Row]:
    """A row saying the comparison is not written yet."""
    return [skipped(NAME, "checks/s per core", "comparison not written yet", "blackbox_exporter")]
