"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter

from web.deps import PageRoute

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)
