"""`/healthz` (the process answers) and `/readyz` (models loaded, a tier can serve)."""

from __future__ import annotations

from litestar import Response, get

from appliance.runtime import Runtime
from appliance.version import version


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": version()}


@get("/readyz")
async def readyz(runtime: Runtime) -> Response[dict[str, object]]:
    available = [t.name for t in runtime.tiers.tiers if t.is_available]
    ready = runtime.ready.is_set() and bool(available)
    body: dict[str, object] = {
        "status": "ready" if ready else runtime.status,
        "tiers": {
            t.name: ("available" if t.is_available else (t.unavailable or "disabled"))
            for t in runtime.tiers.tiers
        },
    }
    return Response(body, status_code=200 if ready else 503)
