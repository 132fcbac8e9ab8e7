"""The submit tests' API servers: `api(respond, **options)` starts a fake API server, closed after the test."""

from __future__ import annotations

import pytest

from tests.support.fake_apiserver import FakeApiServer
from tests.support.submit_api import created


@pytest.fixture
def api():
    """Start fake API servers answering with `respond` (every create accepted by default); closed after the test."""
    servers = []

    def start(respond=created, **options) -> FakeApiServer:
        server = FakeApiServer(respond=respond, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
