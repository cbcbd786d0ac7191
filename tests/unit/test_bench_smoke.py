"""The benchmark harness itself: every benchmark runs at tiny sizes and yields rows."""

from __future__ import annotations

import argparse
import shutil

import pytest

from bench import Row, render
from bench.__main__ import BENCHMARKS, build_parser, single_name


def _args(name: str, *argv: str) -> argparse.Namespace:
    return build_parser(name).parse_args([name, *argv])


def _check(rows: list[Row]) -> None:
    assert rows
    assert render(rows)


def test_row_ratio_and_verdict() -> None:
    row = Row("x", "wall", "s", 1.1, 1.0, "peer", "<=", 1.2)
    assert row.ratio == pytest.approx(1.1)
    assert row.passed is True
    assert Row("x", "obs/s", "obs/s", 150.0, op=">=", bound=200.0, compare="ours").passed is False
    assert Row("x", "m", "u", None).passed is None
    assert "FAIL" in render([Row("x", "m", "u", 3.0, 1.0, "p", "<=", 2.0)])


def test_every_benchmark_has_options_and_prefixed_options() -> None:
    parser = build_parser()
    args = parser.parse_args(["--monitor-checks", "5", "--icmp-hosts", "7"])
    assert args.monitor__checks == 5
    assert args.icmp__hosts == 7
    for name in BENCHMARKS:
        build_parser(name).parse_args([name])


def test_a_benchmark_named_as_an_option_value_is_not_chosen() -> None:
    argv = ["monitor", "--kind", "icmp", "--kind", "http"]
    assert single_name(argv) == "monitor"
    args = build_parser("monitor").parse_args(argv)
    assert (args.names, args.kind) == (["monitor"], ["icmp", "http"])
    assert single_name(["icmp"]) == "icmp"
    assert single_name(["icmp", "http"]) is None
    assert single_name(["--monitor-checks", "5", "monitor"]) is None


def test_store_smoke() -> None:
    from bench import store

    _check(store.run(_args("store", "--rows", "2000", "--checks", "50", "--runs", "1")))


def test_schedule_smoke() -> None:
    from bench import schedule

    rows = schedule.run(_args("schedule", "--checks", "200", "--interval", "2", "--seconds", "1"))
    _check(rows)
    assert all(r.ours is not None for r in rows[:3])


def test_monitor_smoke_has_no_false_alarms() -> None:
    from bench import monitor

    args = _args("monitor", "--checks", "40", "--interval", "2", "--seconds", "3",
                 "--addresses", "2")  # fmt: skip
    rows = {r.metric: r for r in monitor.run(args)}
    assert rows["non-OK observations (false)"].ours == 0, rows["non-OK observations (false)"].note
    assert rows["outages opened (false)"].ours == 0
    assert rows["missed runs"].ours == 0


def test_monitor_checks_of_chosen_kinds_only() -> None:
    from bench.monitor import MIX, make_specs

    def kinds(only: list[str] | None) -> set[str]:
        specs = make_specs(100, 6.0, 200, 2, "/nonexistent/ca.pem", only)
        assert len(specs) == 100
        return {s.id.rsplit(".", 1)[1] for s in specs}

    assert kinds(["https", "dns"]) == {"https", "dns"}
    assert kinds(None) == {k for k, _ in MIX}


@pytest.mark.netns
@pytest.mark.skipif(shutil.which("fping") is None, reason="fping is not installed")
def test_icmp_smoke_never_reports_a_dead_host_up() -> None:
    from bench import icmp

    rows = icmp.run(_args("icmp", "--hosts", "40", "--repeat", "1", "--no-icmplib"))
    _check(rows)
    ours = next(r for r in rows if r.metric == "dead reported up (ours)")
    assert ours.ours == 0


@pytest.mark.skipif(
    shutil.which("snmpget") is None or shutil.which("snmpd") is None and
    not __import__("os").path.exists("/usr/sbin/snmpd"),
    reason="snmpd/snmpget are not installed",
)  # fmt: skip
def test_snmp_smoke_values_agree() -> None:
    from bench import snmp

    rows = snmp.run(_args("snmp", "--checks", "20", "--runs", "3"))
    assert rows[1].ours == 1.0


@pytest.mark.skipif(
    shutil.which("prometheus-blackbox-exporter") is None
    or (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")) is None,
    reason="prometheus-blackbox-exporter or nginx is not installed",
)
def test_http_smoke_every_check_succeeds() -> None:
    from bench import http

    args = _args("http", "--checks", "60", "--concurrency", "4", "--addresses", "2",
                 "--repeat", "1")  # fmt: skip
    rows = http.run(args)
    _check(rows)
    assert [r.metric.split(" (")[1].split(",")[0] for r in rows] == ["HTTP", "HTTPS"]
    for row in rows:
        assert row.ours is not None, row.note
        assert row.peer is not None, row.note


def test_availability_smoke() -> None:
    from bench import availability

    _check(availability.run(_args("availability", "--sites", "5", "--days", "14")))


def test_inventory_smoke() -> None:
    from bench import inventory

    _check(inventory.run(_args("inventory", "--repeat", "1")))


def test_dashboard_smoke() -> None:
    from bench import dashboard

    _check(dashboard.run(_args("dashboard", "--checks", "900", "--refreshes", "2")))
