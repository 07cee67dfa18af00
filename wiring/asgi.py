"""ASGI entry point for process managers (uvicorn --factory, gunicorn): ``wiring.asgi:create``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from wiring.factory import Services


def application(services: Services) -> FastAPI:
    """The API with the counter's web page on top: what every server process serves."""
    from api.app import create_app
    from web.site import install

    app = create_app(services)
    install(app)
    return app


def create() -> FastAPI:
    from wiring.factory import build

    return application(build())
