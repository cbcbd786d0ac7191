"""Cutover compliance and the `sla`, `cutover` and `maintenance` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.availability import History
from monitor.cutover import CutoverStatus, Verdict, cutover_status
from monitor.store import Store
from tests.unit.test_availability import DAY, INVENTORY, H, day_store, inventory, outage
from thongsuot.cli import main

__all__ = ["day_store"]  # the fixture, imported for pytest


def status_at(store: Store, now: float) -> CutoverStatus:
    inv = inventory()
    history = History(store, DAY - H, DAY + 25 * H, inventory=inv, now=now)
    return cutover_status(inv, history, "plan", now)


def test_interruptions_inside_the_window_against_the_budget(day_store: Store) -> None:
    status = status_at(day_store, DAY + 30 * H)
    assert status.verdict is Verdict.VIOLATED
    [wan] = status.interruptions
    assert wan.check == "an-binh.wan"
    assert wan.blamed_on == "dc-a.uplink"
    assert wan.seconds == 2 * H - 30  # the hours the monitor was not running are not counted
    assert status.unmonitored == 3 * H
    [budget] = status.budgets
    assert (budget.check, budget.verdict) == ("an-binh.wan", Verdict.VIOLATED)


def test_verdicts(tmp_path: Path) -> None:
    inv = inventory()
    with Store(tmp_path / "v.db", housekeeping=False, batch_interval=0.01) as store:
        store.sync_checks(inv.checks.values(), ts=DAY - H)
        store.stop_run(store.start_run(DAY - H), DAY + 24 * H)
        assert status_at(store, DAY - 2 * H).verdict is Verdict.NOT_STARTED
        assert status_at(store, DAY + 2 * H).verdict is Verdict.OK
        outage(store, "mail.smtp", DAY + 3 * H, DAY + 3 * H + 50)  # 50 of 60 s: at risk
        store.flush()
        assert status_at(store, DAY + 4 * H).verdict is Verdict.AT_RISK
        outage(store, "mail.smtp", DAY + 5 * H, DAY + 5 * H + 11)  # 61 s
        store.flush()
        assert status_at(store, DAY + 6 * H).verdict is Verdict.VIOLATED


def test_never_monitored_window_is_unknown(tmp_path: Path) -> None:
    with Store(tmp_path / "u.db", housekeeping=False) as store:
        store.sync_checks(inventory().checks.values(), ts=DAY - H)
        assert status_at(store, DAY + 2 * H).verdict is Verdict.UNKNOWN


@pytest.fixture
def files(tmp_path: Path, day_store: Store) -> tuple[Path, Path]:
    inv = tmp_path / "sites.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    day_store.flush()
    return inv, day_store.path


def test_cutover_command(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    inv, db = files
    at = "2025-07-02T06:00+07:00"
    assert main(["cutover", str(inv), "--db", str(db), "--at", at]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VIOLATED  plan — Kế hoạch chuyển đổi")
    assert "behind dc-a.uplink" in out
    assert main(["cutover", str(inv), "--db", str(db), "--at", at, "--format", "json"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "VIOLATED"
    assert doc["interruptions"][0]["seconds"] == 2 * H - 30
    assert main(["cutover", str(inv), "--db", str(db), "--plan", "nope"]) == 2
    assert "no cutover plan 'nope'" in capsys.readouterr().err


def test_sla_command(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    inv, db = files
    args = ["sla", str(inv), "--db", str(db), "--from", "2025-07-01", "--to", "2025-07-01"]
    assert main([*args, "--by", "check", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in doc["rows"]}
    assert rows["dc-a.uplink"]["down"] == 2 * H
    assert rows["dc-a.uplink"]["unknown"] == 3 * H
    assert doc["root_outages"][0]["affected"] == ["an-binh.wan"]
    assert main([*args, "--by", "site", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("period,key,name,checks,availability")
    assert lines[1].startswith("2025-07-01,an-binh,An Bình,")
    assert main([*args, "--per", "day"]) == 0
    assert "Trung tâm A" in capsys.readouterr().out
    assert main(["sla", str(inv), "--db", str(db), "--from", "yesterday"]) == 2
    assert "cannot read 'yesterday'" in capsys.readouterr().err
    assert main(["sla", str(inv), "--db", str(db.with_name("missing.db"))]) == 2


def test_broken_inventory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("province: [\n", encoding="utf-8")
    for cmd in (["sla"], ["cutover"], ["maintenance", "list"]):
        assert main([*cmd, str(bad), "--db", str(tmp_path / "x.db")]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert "bad.yaml" in err


def test_maintenance_commands(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    inv, db = files
    base = ["maintenance"]
    assert (
        main(
            [
                *base,
                "add",
                str(inv),
                "--db",
                str(db),
                "--name",
                "Thay router",
                "--match",
                "an-binh",
                "--start",
                "2025-07-05T22:00",
                "--duration",
                "2h",
            ]
        )
        == 0
    )
    added = capsys.readouterr().out
    assert added.startswith("cli-2: Thay router, 2 checks, 2025-07-05 22:00 → 2025-07-06 00:00")
    listing = [
        *base,
        "list",
        str(inv),
        "--db",
        str(db),
        "--from",
        "2025-07-05",
        "--to",
        "2025-07-06",
    ]
    assert main(listing) == 0
    out = capsys.readouterr().out
    assert "cli-2" in out
    assert "weekly" in out  # the Sunday 01:00 window of sites.yaml
    assert "Bảo trì hằng tuần" in out
    assert main([*base, "remove", "cli-2", "--db", str(db)]) == 0
    assert main([*base, "remove", "cli-2", "--db", str(db)]) == 2
    assert main([*base, "remove", "weekly", "--db", str(db)]) == 2
    capsys.readouterr()
    bad_match = [*base, "add", str(inv), "--db", str(db), "--name", "x", "--match", "zz*"]
    assert main([*bad_match, "--start", "2025-07-05", "--end", "2025-07-06"]) == 2
    assert "nothing matches zz*" in capsys.readouterr().err
