"""`create_app(config)`: wires controllers, DI, lifespan and the error handlers. Nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide

from appliance.api.admin import AdminController, metrics
from appliance.api.errors import EXCEPTION_HANDLERS
from appliance.api.health import healthz, readyz
from appliance.api.openai import OpenAIController
from appliance.api.openapi import openapi_document
from appliance.config import Config
from appliance.runtime import Runtime


def create_app(config: Config, config_path: str | None = None) -> Litestar:
    runtime = Runtime.build(config, config_path)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    return Litestar(
        route_handlers=[
            OpenAIController,
            AdminController,
            healthz,
            readyz,
            metrics,
            openapi_document,
        ],
        dependencies={"runtime": Provide(lambda: runtime, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        state=State({"runtime": runtime}),
        request_max_body_size=config.server.max_body_bytes,
        openapi_config=None,  # our own document: api/openapi.py
        logging_config=None,  # `appliance serve` configures logging once, for every logger
        debug=False,
    )
