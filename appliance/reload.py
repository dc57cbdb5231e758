"""SIGHUP -> reload the config in place (`systemctl reload appliance`).

It owns the signal plumbing and the systemd RELOADING=1 / READY=1 bracket around a reload.
What a reload *means* (re-read the TOML, apply live-tunable values, keep the warm cache) is the
callback's business, supplied by `runtime.py`.

A failed reload keeps the running config: a typo in the TOML must not take the gateway down,
so the error is logged and shown in the unit's STATUS= line instead.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from appliance.notify import notify

log = logging.getLogger("appliance.reload")

ReloadCallback = Callable[[], Awaitable[None]]


async def reload_once(callback: ReloadCallback) -> bool:
    """Run one reload, bracketed by RELOADING=1 and READY=1; True if it succeeded."""
    notify(reloading=True, status="reloading config")
    try:
        await callback()
    except Exception as exc:
        log.error("config reload failed; keeping the running config: %s", exc)
        notify(ready=True, status=f"ready; last reload failed: {exc}")
        return False
    log.info("config reloaded")
    notify(ready=True, status="ready; config reloaded")
    return True


def install_reload_handler(
    loop: asyncio.AbstractEventLoop, callback: ReloadCallback
) -> Callable[[], None]:
    """Run `callback` on the loop at every SIGHUP; returns a function that uninstalls it.

    Reloads are serialised: a second SIGHUP while one runs waits its turn instead of applying
    two configs at once. uvicorn handles SIGINT/SIGTERM only, so SIGHUP is free for us (its
    default action, before this runs, would terminate the process).
    """
    lock = asyncio.Lock()
    tasks: set[asyncio.Task[bool]] = set()  # strong refs: the loop keeps only weak ones

    async def _serialised() -> bool:
        async with lock:
            return await reload_once(callback)

    def _on_sighup() -> None:
        task = loop.create_task(_serialised())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGHUP, _on_sighup)

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return uninstall
