"""Run ``thongsuot dash`` on a database: ``python dash_script.py SITES_YAML DB``."""

from __future__ import annotations

import sys

import sites
from tui.app import run_dash

if __name__ == "__main__":
    sys.exit(run_dash(sites.load(sys.argv[1]), sys.argv[2], period=0.5))
