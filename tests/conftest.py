"""Suite-wide test policy: tests that need root and network namespaces skip elsewhere."""

from __future__ import annotations

import pytest

from sim.netns import unavailable as netns_unavailable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = netns_unavailable()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "netns" in item.keywords:
            item.add_marker(skip)
