"""Start the real appliance as a subprocess on a free loopback port, for integration tests.

A subprocess (not an in-process app) so tests exercise exactly what an operator runs, and so
durability tests can `kill -9` it.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai

# Every SDK client a test opens, closed after the test (tests/conftest.py): an unclosed one
# leaks its connection pool, a ResourceWarning, which this suite treats as an error.
OPEN_CLIENTS: list[openai.OpenAI] = []


# Requests that must reach a model, never the cache (and leave nothing in it).
NO_STORE = {"cache-control": "no-store"}


def sdk(base_url: str, api_key: str = "x") -> openai.OpenAI:
    """The stock `openai` client pointed at a daemon, closed after the test."""
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    OPEN_CLIENTS.append(client)
    return client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_loopback(
    module: str, probe: str = "/", cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m MODULE PORT` (the fault server, the recorder) on a free port, waited for
    until `probe` answers (10 s at most); the process and its base URL (…/v1)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, str(port)], cwd=cwd)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/v1"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def write_config(path: Path, settings: dict[str, Any]) -> Path:
    """Write a TOML config: top-level scalars, tables, and [[tiers]] arrays of tables."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in settings.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables.extend(f"{k} = {toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                tables.append(f"\n[[{key}]]")
                tables.extend(f"{k} = {toml_value(v)}" for k, v in item.items())
        else:
            lines.append(f"{key} = {toml_value(value)}")
    path.write_text("\n".join(lines + tables) + "\n", encoding="utf-8")
    return path


@dataclass
class Server:
    config_path: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    state_dir: Path | None = None
    # RLIMIT_NOFILE (soft and hard) for the daemon, as `ulimit -n` would set it.
    fd_limit: int | None = None

    def admin_token(self) -> str:
        assert self.state_dir is not None
        return (self.state_dir / "admin_token").read_text().strip()

    def add_key(self, name: str, *options: str) -> str:
        """`appliance keys add NAME [options]` through the real CLI; returns the key once the
        daemon can have seen it (it re-reads keys within about a second)."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance",
                "keys",
                "add",
                name,
                *options,
                "--config",
                str(self.config_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        time.sleep(1.5)
        return next(w for w in result.stdout.split() if w.startswith("sk-appl-"))

    def admin(self) -> httpx.Client:
        """An httpx client for /admin/* carrying the admin token."""
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"authorization": f"Bearer {self.admin_token()}"}
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self, timeout_s: float = 120.0, wait_ready: bool = True) -> Server:
        self.log_path = self.config_path.with_suffix(f".{self.port}.log")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appliance",
                "serve",
                "--config",
                str(self.config_path),
                "--port",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=self._limit_fds if self.fd_limit else None,
        )
        log.close()
        self.wait_ready(timeout_s, "/readyz" if wait_ready else "/healthz")
        return self

    def _limit_fds(self) -> None:
        assert self.fd_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.fd_limit, self.fd_limit))

    def wait_ready(self, timeout_s: float = 120.0, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"appliance exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"appliance not ready after {timeout_s}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
