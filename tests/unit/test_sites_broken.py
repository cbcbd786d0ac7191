"""Every sample under tests/unit/broken/ is rejected with located, helpful problems.

Each sample states what it expects in comments:
``# expect: LINE PATH | TEXT`` (PATH may be empty) and optionally ``# expect-count: N``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import sites
from sites import ConfigError, Problem

BROKEN = Path(__file__).parent / "broken"
SAMPLES = sorted(BROKEN.glob("*.yaml"))
_EXPECT = re.compile(r"^# expect: (\d+) ?(\S*) \| (.+)$")


@dataclass(frozen=True)
class Expected:
    line: int
    path: str
    text: str


def _expectations(path: Path) -> tuple[list[Expected], int | None]:
    expected, count = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _EXPECT.match(line)
        if match:
            expected.append(Expected(int(match[1]), match[2], match[3].strip()))
        elif line.startswith("# expect-count:"):
            count = int(line.split(":", 1)[1])
    return expected, count


def test_there_are_enough_samples() -> None:
    assert len(SAMPLES) >= 12


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_broken_sample(sample: Path) -> None:
    expected, count = _expectations(sample)
    assert expected, f"{sample.name} states no expectation"
    with pytest.raises(ConfigError) as caught:
        sites.load(sample, environ={})
    problems = caught.value.problems
    rendered = str(caught.value)
    assert "Traceback" not in rendered
    for want in expected:
        matching = [
            p
            for p in problems
            if p.line == want.line and p.path == want.path and want.text in str(p)
        ]
        assert matching, f"no problem like {want} in:\n{rendered}"
        for problem in matching:
            prefix = f"{sample}:{problem.line}:{problem.column}: "
            assert str(problem).startswith(prefix + (f"{want.path}: " if want.path else ""))
    if count is not None:
        assert len(problems) == count, rendered
        assert rendered.endswith(f"{count} problems")


def test_rendering_matches_the_documented_form() -> None:
    problem = Problem(
        "sites.yaml",
        42,
        7,
        "sites[3].checks[0].intervl",
        "intervl",
        "unknown key 'intervl'",
        "did you mean 'interval'?",
    )
    assert str(problem) == (
        "sites.yaml:42:7: sites[3].checks[0].intervl: unknown key 'intervl' — "
        "did you mean 'interval'?"
    )


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        sites.load(BROKEN / "does-not-exist.yaml")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "sites.yaml"
    path.write_bytes(b"province: {name: \xff}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        sites.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must be a mapping"),
        ("- a\n- b\n", "must be a mapping"),
        ("province: {name: X, domain: x.vn}\n", "missing required key 'datacenters'"),
        ("province: {name: X, domain: x.vn}\ndatacenters: 3\n", "expected a list"),
        ("province: {name: X, domain: 'https://x.vn'}\ndatacenters: []\n", "is a URL"),
        ("\tprovince: x\n", "found character '\\t'"),
    ],
)
def test_whole_file_problems(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sites.loads(text, environ={})
    assert message in str(caught.value)


def test_secret_values_are_not_echoed() -> None:
    text = """\
province: {name: X, domain: x.vn}
datacenters:
  - id: dc-a
    name: A
    former_province: A
    location: A
    checks: [{id: uplink, kind: icmp, role: uplink, host: "${THONGSUOT_TEST_HOST}"}]
"""
    with pytest.raises(ConfigError) as caught:
        sites.loads(text, environ={"THONGSUOT_TEST_HOST": "top secret value"})
    message = str(caught.value)
    assert "top secret value" not in message
    assert "${THONGSUOT_TEST_HOST}" in message
