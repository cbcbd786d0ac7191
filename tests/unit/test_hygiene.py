"""The project's structural rules, checked: layers, a headless core, documented commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from thongsuot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_core_runs_without_textual() -> None:
    code = (
        "import sys, thongsuot.cli, monitor, probes, sites, sim\n"
        "import monitor.daemon\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if 'textual' in m)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip("import-linter is not installed in this environment")
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _commands() -> dict[str, object]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(sub.choices)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_has_help_and_is_documented(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "thongsuot.cli", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"thongsuot {command}" in result.stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"thongsuot {command}\b", readme), f"README does not show `{command}`"
