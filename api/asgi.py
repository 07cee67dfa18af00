"""ASGI entry point for process managers (uvicorn --factory, gunicorn): ``api.asgi:create``."""

from fastapi import FastAPI


def create() -> FastAPI:
    from api.app import create_app
    from sohoa.factory import build

    return create_app(build())
