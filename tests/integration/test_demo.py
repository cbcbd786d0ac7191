"""`thongsuot demo`, the README's main command, run as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, "-m", "thongsuot.cli", "demo", "--no-dash", "--sites", "2",
         "--duration", "8", "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "Simulating Thành phố Cần Thơ" in result.stdout
    assert result.stdout.rstrip().endswith("stopped.")
    assert db.exists(), "the demo keeps a database that was asked for"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux for a real terminal")
def test_demo_opens_the_dashboard_in_a_terminal(tmp_path: Path) -> None:
    server = f"ts-demo-test-{time.monotonic_ns()}"
    done = tmp_path / "exit-code"
    command = (
        f"{sys.executable} -m thongsuot.cli demo --sites 2 --duration 12 "
        f"--db {tmp_path / 'demo.db'}; echo $? > {done}"
    )
    subprocess.run(
        ["tmux", "-L", server, "new-session", "-d", "-x", "160", "-y", "48", "-c", str(ROOT),
         command],
        check=True,
    )  # fmt: skip
    try:
        screen = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Ninh Kiều" not in screen:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "-L", server, "capture-pane", "-p"], capture_output=True, text=True
            ).stdout
        assert "Thành phố Cần Thơ" in screen, screen
        assert "Ninh Kiều" in screen, screen
        while time.monotonic() < deadline + 20 and not done.exists():
            time.sleep(0.5)
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
