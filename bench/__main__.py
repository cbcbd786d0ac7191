"""``python -m bench [name …] [options]``: run benchmarks and print one table.

Without a name every benchmark runs with its default sizes. With one name its options
are plain (``python -m bench monitor --checks 5000``); with several, or none, each is
prefixed by its benchmark's name (``python -m bench --monitor-checks 5000``).
``python -m bench --help`` lists them all.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import logging
import sys
import time
from collections.abc import Sequence

from bench import Row, render, skipped

BENCHMARKS = (
    "icmp",
    "http",
    "snmp",
    "schedule",
    "store",
    "monitor",
    "availability",
    "inventory",
    "dashboard",
)
"""Every benchmark module under ``bench``, in the order they run."""


class _Prefixed:
    """Adds a benchmark's options as ``--<bench>-<option>`` to a shared parser."""

    def __init__(self, group: argparse._ArgumentGroup, name: str) -> None:
        self._group = group
        self._name = name

    def add_argument(self, flag: str, **kwargs: object) -> None:
        option = flag.removeprefix("--")
        dest = f"{self._name}__{option.replace('-', '_')}"
        self._group.add_argument(f"--{self._name}-{option}", dest=dest, **kwargs)  # type: ignore[arg-type]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line: names, then options (plain for ``only``, else prefixed)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Compare thongsuot against its peers."
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)}"
    )
    for name in BENCHMARKS if only is None else (only,):
        module = importlib.import_module(f"bench.{name}")
        group = parser.add_argument_group(name)
        module.add_arguments(group if only else _Prefixed(group, name))
    return parser


def _options_of(name: str, args: argparse.Namespace, plain: bool) -> argparse.Namespace:
    if plain:
        return args
    prefix = f"{name}__"
    return argparse.Namespace(
        **{k.removeprefix(prefix): v for k, v in vars(args).items() if k.startswith(prefix)}
    )


def single_name(argv: Sequence[str]) -> str | None:
    """The benchmark named alone, whose options are then plain (``--checks``, not
    ``--monitor-checks``). Only the words before the first option count: a later word
    may be an option's value (``monitor --kind icmp``)."""
    leading = itertools.takewhile(lambda a: not a.startswith("-"), argv)
    chosen = [a for a in leading if a in BENCHMARKS]
    return chosen[0] if len(chosen) == 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; print the table; exit 1 when a target is missed."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    only = single_name(argv)
    args = build_parser(only).parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    rows: list[Row] = []
    for name in names:
        started = time.monotonic()
        print(f"running {name} …", file=sys.stderr, flush=True)
        module = importlib.import_module(f"bench.{name}")
        try:
            rows += module.run(_options_of(name, args, only is not None))
        except Exception as exc:
            logging.getLogger("bench").exception("%s failed", name)
            rows.append(skipped(name, "all", f"failed: {type(exc).__name__}: {exc}"))
        print(f"  {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(render(rows))
    return 1 if any(r.passed is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
