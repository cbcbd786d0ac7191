"""The inventory: data centres, commune sites, shared systems, checks and cutover plans.

``sites.load("sites.yaml")`` validates the file (reporting every problem at once as a
:class:`ConfigError`) and returns an :class:`Inventory` whose ``checks`` are the flat,
resolved :class:`CheckSpec` objects the monitor runs.
"""

from __future__ import annotations

from sites.errors import ConfigError, Problem
from sites.inventory import Inventory
from sites.listing import (
    InventoryRow,
    display_width,
    inventory_rows,
    render_csv,
    render_json,
    render_rows,
    render_table,
)
from sites.loader import GATE_ROLES, load, loads
from sites.parsing import format_duration, parse_duration, slugify
from sites.spec import CheckSpec, ElementType, Lifecycle

__all__ = [
    "GATE_ROLES",
    "CheckSpec",
    "ConfigError",
    "ElementType",
    "Inventory",
    "InventoryRow",
    "Lifecycle",
    "Problem",
    "display_width",
    "format_duration",
    "inventory_rows",
    "load",
    "loads",
    "parse_duration",
    "render_csv",
    "render_json",
    "render_rows",
    "render_table",
    "slugify",
]
