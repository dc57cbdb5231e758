"""The systemd notification protocol (sd_notify), without libsystemd or any other dependency.

It owns talking to the service manager: READY=1 once models are loaded, STATUS= lines while
warming, WATCHDOG=1 pings from the event loop, RELOADING=1/STOPPING=1 around reloads and
shutdown. It must not decide *when* those happen; `runtime.py` does.

Outside systemd (a laptop, the tests, `--local`) NOTIFY_SOCKET is unset and every call is a
cheap no-op, so callers never branch on "are we under systemd".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

log = logging.getLogger("appliance.notify")

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"


def _address(raw: str) -> str | bytes | None:
    """'@name' is Linux's abstract namespace (a leading NUL byte); '/path' a filesystem socket."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # vsock and other forms: not used for system services


def notify(
    *,
    status: str | None = None,
    ready: bool = False,
    watchdog: bool = False,
    reloading: bool = False,
    stopping: bool = False,
) -> bool:
    """Send one notification datagram; True if it was sent, False when not under systemd.

    A failed send is logged and swallowed: losing a STATUS line must never take the gateway
    down, and a lost WATCHDOG ping is exactly what the watchdog exists to notice.
    """
    raw = os.environ.get(NOTIFY_SOCKET_ENV)
    if not raw:
        return False
    address = _address(raw)
    if address is None:
        log.warning("unsupported NOTIFY_SOCKET %r; not notifying systemd", raw)
        return False
    lines: list[str] = []
    if reloading:
        # Type=notify-reload (systemd >= 253) wants the monotonic time with RELOADING=1.
        lines += [
            "RELOADING=1",
            f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}",
        ]
    if ready:
        lines.append("READY=1")
    if stopping:
        lines.append("STOPPING=1")
    if watchdog:
        lines.append("WATCHDOG=1")
    if status is not None:
        # One line per field: a newline inside STATUS= would start a bogus field.
        lines.append("STATUS=" + status.replace("\n", " "))
    if not lines:
        return False
    payload = ("\n".join(lines) + "\n").encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(payload)
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", raw, exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of $WATCHDOG_USEC (systemd's advice), or None when no watchdog is set for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # the watchdog belongs to another process (e.g. a wrapper that exec'd us)
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 2 / 1_000_000


async def watchdog_loop() -> None:
    """Ping WATCHDOG=1 at half the watchdog interval, forever; returns at once without one.

    The pings run *on the event loop* on purpose: if a blocking call wedges the loop, the pings
    stop and systemd restarts the service, which is the failure the watchdog is for. Run it as
    a background task and cancel it on shutdown.
    """
    interval = watchdog_interval_s()
    if interval is None:
        return
    while True:
        notify(watchdog=True)
        await asyncio.sleep(interval)
