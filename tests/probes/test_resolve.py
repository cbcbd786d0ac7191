"""The probes' name cache: literals skip the resolver, names are cached, bad names fail."""

from __future__ import annotations

import socket

import pytest

from probes.resolve import Resolver


async def test_literals_skip_the_resolver() -> None:
    resolver = Resolver()
    assert await resolver.resolve("127.0.0.1", 80) == [(socket.AF_INET, ("127.0.0.1", 80))]
    assert await resolver.resolve("::1", 53, socket.SOCK_DGRAM) == [(socket.AF_INET6, ("::1", 53))]


async def test_names_are_resolved_and_cached() -> None:
    resolver = Resolver(ttl=60)
    first = await resolver.resolve("localhost", 8080)
    assert (socket.AF_INET, ("127.0.0.1", 8080)) in [(f, a[:2]) for f, a in first]
    assert await resolver.resolve("localhost", 8080) is first


async def test_invalid_name_is_gaierror() -> None:
    # An empty label fails IDNA encoding before any query could be sent.
    with pytest.raises(socket.gaierror):
        await Resolver().resolve("bad..name", 80)
