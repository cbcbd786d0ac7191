"""Rows, filters and renderers for ``thongsuot inventory``."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sites
from sites import ElementType, Inventory, InventoryRow, Lifecycle, display_width
from sites.listing import render_rows

DEFAULT = Path(__file__).resolve().parents[2] / "sites.yaml"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return sites.load(DEFAULT, environ={})


def test_rows_cover_every_check(inventory: Inventory) -> None:
    rows = sites.inventory_rows(inventory)
    assert [r.check for r in rows] == list(inventory.checks)


def test_row_fields(inventory: Inventory) -> None:
    (row,) = sites.inventory_rows(inventory, site="vi-thanh-1", kind="icmp", element_type="site")[
        :1
    ]
    assert row.check == "vi-thanh-1.wan"
    assert row.element_name == "Vị Thanh 1"
    assert row.former_province == "Hậu Giang"
    assert row.datacenter == "dc-haugiang"
    assert row.role == "wan"
    assert row.interval == 30
    assert row.target.startswith("198.51.100.")
    dns = sites.inventory_rows(inventory, element="ten-mien")[0]
    assert dns.target == "cantho.gov.vn SOA @ 203.0.113.53"
    soc = sites.inventory_rows(inventory, element="soc")[0]
    assert soc.target == "soc.cantho.example:6514"


def test_filters(inventory: Inventory) -> None:
    dc_rows = sites.inventory_rows(inventory, datacenter="dc-soctrang")
    assert dc_rows
    assert {r.datacenter for r in dc_rows} == {"dc-soctrang"}
    retired = sites.inventory_rows(inventory, lifecycle=Lifecycle.RETIRED)
    assert {r.element for r in retired} == {"sso-haugiang", "sso-soctrang"}
    lookup = sites.inventory_rows(inventory, lifecycle="kept-for-lookup", element_type="system")
    assert {r.element for r in lookup} == {"cong-ttdt-haugiang", "cong-ttdt-soctrang"}
    dcs = sites.inventory_rows(inventory, element_type=ElementType.DATACENTER)
    assert len(dcs) == 6
    two = sites.inventory_rows(inventory, site=["o-mon", "ninh-kieu"], kind=["sip"])
    assert [r.check for r in two] == [
        "ninh-kieu.vc_gov",
        "ninh-kieu.vc_party",
        "o-mon.vc_gov",
        "o-mon.vc_party",
    ]
    assert sites.inventory_rows(inventory, site="nowhere") == []


def _column_starts(line: str, headers: list[str], header_line: str) -> list[int]:
    """Display-cell offsets of each column in ``line``, using the header's positions."""
    return [display_width(header_line[: header_line.index(h)]) for h in headers]


def test_table_aligns_diacritics(inventory: Inventory) -> None:
    rows = sites.inventory_rows(inventory, kind="icmp", element_type="site")
    table = sites.render_table(rows)
    lines = table.splitlines()
    header = lines[0]
    target_cell = display_width(header[: header.index("TARGET")])
    for line in lines[1:]:
        prefix_cells = 0
        for index, char in enumerate(line):
            if prefix_cells == target_cell:
                assert line[index].isdigit(), line
                break
            prefix_cells += display_width(char)
    assert "Hồ Đắc Kiện" in table


def test_table_with_decomposed_names() -> None:
    rows = [
        InventoryRow(
            "a.wan",
            "a",
            unicodedata.normalize("NFD", "Ô Môn"),
            "site",
            "icmp",
            "192.0.2.1",
            "dc",
            "a",
            "Cần Thơ",
            "wan",
            "active",
            30,
        ),
        InventoryRow(
            "b.wan",
            "b",
            "Ninh Kieu",
            "site",
            "icmp",
            "192.0.2.2",
            "dc",
            "b",
            "Can Tho",
            "wan",
            "active",
            30,
        ),
    ]
    lines = sites.render_table(rows).splitlines()
    widths = {display_width(line[: line.index("192.0.2")]) for line in lines[1:]}
    assert len(widths) == 1


@pytest.mark.parametrize("width", [40, 60, 80, 100, 140, 200])
def test_table_fits_width(inventory: Inventory, width: int) -> None:
    rows = sites.inventory_rows(inventory, datacenter="dc-cantho")
    table = sites.render_table(rows, width=width)
    assert max(display_width(line) for line in table.splitlines()) <= width
    assert table.splitlines()[0].startswith("CHECK")


def test_csv_and_json_round_trip(inventory: Inventory) -> None:
    rows = sites.inventory_rows(inventory, site="o-mon")
    parsed = list(csv.DictReader(io.StringIO(sites.render_csv(rows))))
    assert [r["check"] for r in parsed] == [r.check for r in rows]
    assert parsed[0]["element_name"] == "Ô Môn"
    data = json.loads(sites.render_json(rows))
    assert data[0]["element_name"] == "Ô Môn"
    assert "Ô Môn" in sites.render_json(rows)
    assert data[0]["interval"] == rows[0].interval
    assert render_rows(rows, "json") == sites.render_json(rows)
    assert render_rows(rows, "csv") == sites.render_csv(rows)


@pytest.mark.parametrize(
    ("text", "cells"),
    [
        ("Cần Thơ", 7),
        (unicodedata.normalize("NFD", "Cần Thơ"), 7),
        ("会议", 4),
        ("a\u200bb", 2),
        ("", 0),
    ],
)
def test_display_width(text: str, cells: int) -> None:
    assert display_width(text) == cells


LATIN = st.one_of(
    st.characters(max_codepoint=0x024F, categories=["L", "N", "Zs"]),
    st.characters(min_codepoint=0x0300, max_codepoint=0x036F),
    st.characters(min_codepoint=0x1E00, max_codepoint=0x1EFF),
)
"""Latin letters, combining diacritics and Latin Extended Additional: all of Vietnamese."""


@given(st.text(alphabet=LATIN))
def test_display_width_same_for_nfc_and_nfd(text: str) -> None:
    nfc = unicodedata.normalize("NFC", text)
    nfd = unicodedata.normalize("NFD", text)
    assert display_width(nfc) == display_width(nfd)
