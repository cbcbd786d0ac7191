"""What the demo simulates: communes from every data centre, and a cutover in progress."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import sites
from thongsuot.demo import live_cutover, simulated

DEFAULT = Path(__file__).resolve().parents[2] / "sites.yaml"


def test_communes_come_from_every_data_centre() -> None:
    inventory = simulated(sites.load(DEFAULT, environ={}), 20)
    per_dc = Counter(site.datacenter for site in inventory.sites.values())
    assert sum(per_dc.values()) == 20
    assert set(per_dc) == set(inventory.datacenters)
    assert max(per_dc.values()) - min(per_dc.values()) <= 1


def test_a_cutover_in_progress_holds_systems_and_commune_links_to_no_interruption() -> None:
    now = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    inventory = live_cutover(simulated(sites.load(DEFAULT, environ={}), 3), now)
    plan = next(iter(inventory.cutovers.values()))
    assert plan.window.start == now < plan.window.end
    assert plan.budget == 0
    held = inventory.cutover_checks[plan.id]
    assert set(held) <= inventory.checks.keys()
    roles = {inventory.checks[c].role for c in held if inventory.checks[c].site is not None}
    assert roles == {"wan", "vc_gov", "vc_party"}
    assert any(inventory.checks[c].site is None for c in held), "shared systems are held too"
