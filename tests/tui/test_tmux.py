"""The dashboard in a real terminal: tmux runs it on a fixed database; we read the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sites import Inventory

from .conftest import ROOT
from .fixed_db import build_db

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Callable[..., str]]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    socket = f"ts-dash-{worker}-{os.getpid()}"

    def run(*args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    yield run
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def wait_for(screen: Callable[[], str], text: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        shown = screen()
        if text in shown:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not on screen after {timeout} s:\n{shown}")


def test_dash_in_tmux(tmp_path: Path, inventory: Inventory, tmux: Callable[..., str]) -> None:
    db = build_db(tmp_path / "monitor.db", inventory)
    script = Path(__file__).with_name("dash_script.py")
    # pytest exports COLUMNS/LINES, which Textual would prefer over the pane's size.
    command = shlex.join(
        ["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, str(script)]
        + [str(ROOT / "sites.yaml"), str(db)]
    )
    tmux(
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "48",
        "-e",
        "TERM=xterm-256color",
        "-e",
        "LANG=C.UTF-8",
        f"{command}; sleep 30",
    )

    # Without a client tmux may keep its default 80x24; make the size explicit.
    tmux("resize-window", "-x", "160", "-y", "48")

    def screen() -> str:
        return tmux("capture-pane", "-p")

    wait_for(screen, "Trung tâm dữ liệu Cần Thơ")
    # The status line comes with the first refresh, which may land after the first paint.
    shown = wait_for(screen, f"Nguồn: {db}")
    assert "Trung tâm dữ liệu Cần Thơ" in shown
    assert "Thông suốt — giám sát hạ tầng" in shown
    assert "Thành phố Cần Thơ" in shown
    assert "✕ mất" in shown
    assert "○ không tới" in shown
    tmux("send-keys", "2")
    shown = wait_for(screen, "+4")
    assert "100 % loss (3/3)" in shown
    tmux("send-keys", "5")
    shown = wait_for(screen, "[b]not bold[/b]")  # device text, literally
    tmux("send-keys", "l")
    wait_for(screen, "Events")
    tmux("send-keys", "q")
    deadline = time.monotonic() + 10
    while "Events" in screen() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Events" not in screen()  # the app has exited
