"""SIGHUP re-reads the config file without a restart and keeps serving."""

from __future__ import annotations

import signal
import time

import httpx

from tests.conftest import ServerFactory


def test_sighup_reloads_the_cache_threshold(server_factory: ServerFactory) -> None:
    server = server_factory({"cache": {"threshold": 0.91}})
    with server.admin() as admin:
        assert admin.get("/admin/config").json()["cache_threshold"] == 0.91
        text = server.config_path.read_text().replace("threshold = 0.91", "threshold = 0.97")
        server.config_path.write_text(text)
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        for _ in range(50):
            if admin.get("/admin/config").json()["cache_threshold"] == 0.97:
                break
            time.sleep(0.1)
        assert admin.get("/admin/config").json()["cache_threshold"] == 0.97
    assert httpx.get(server.url + "/readyz", timeout=5).status_code == 200
    assert "configuration reloaded" in server.log()
