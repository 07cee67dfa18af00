"""(being written)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.context import AppServices
from dossiers.access import Principal
from dossiers.workflow.dossier_views import DossierView
from web.deps import PageRoute

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)


def dossier_context(
    request: Request, svc: AppServices, user: Principal, dossier: DossierView
) -> dict[str, Any]:
    """What this module's partials on the dossier page need (``dossier/page.html`` includes them)."""
    return {}
