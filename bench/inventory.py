"""Benchmark: loading and validating the default inventory (884 checks, 103 sites).

``python -m bench inventory``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import sites
from bench import Row

NAME = "inventory"
DEFAULT = Path(__file__).resolve().parents[1] / "sites.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, default=DEFAULT, help="inventory to load")
    parser.add_argument("--repeat", type=int, default=5, help="loads to time")


def run(args: argparse.Namespace) -> list[Row]:
    """CPU and wall time of one ``sites.load`` (best of ``repeat``)."""
    best_cpu = best_wall = float("inf")
    checks = 0
    for _ in range(args.repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        checks = len(sites.load(args.file, environ={}).checks)
        best_cpu = min(best_cpu, time.process_time() - cpu0)
        best_wall = min(best_wall, time.perf_counter() - wall0)
    size = f"{checks:,} checks"
    return [
        Row(NAME, f"load and validate, CPU ({size})", "s", best_cpu),
        Row(NAME, f"load and validate, wall ({size})", "s", best_wall),
    ]


if __name__ == "__main__":
    from bench.__main__ import main

    main([NAME, *sys.argv[1:]])
