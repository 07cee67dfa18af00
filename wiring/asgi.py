"""ASGI entry point for process managers (uvicorn --factory, gunicorn): ``wiring.asgi:create``."""

from fastapi import FastAPI


def create() -> FastAPI:
    from api.app import create_app
    from wiring.factory import build

    return create_app(build())
