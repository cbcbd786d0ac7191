"""Fixtures for the dashboard tests: the real default inventory and fixed data over it."""

from __future__ import annotations

from pathlib import Path

import pytest

import sites
from sites import Inventory
from tui.sample import SampleSource

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 48)
"""Terminal size of every Pilot and snapshot test."""


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    """The default ``sites.yaml`` (103 communes, 3 data centres)."""
    return sites.load(str(ROOT / "sites.yaml"))


@pytest.fixture
def source(inventory: Inventory) -> SampleSource:
    """A source returning the fixed sample board."""
    return SampleSource(inventory)
