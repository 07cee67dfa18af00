"""Errors of the counter's domain; each carries its reason code and HTTP status.

Only the API layer turns them into problem details; a service function never knows it is
behind HTTP.
"""

from __future__ import annotations

from core.errors import SohoaError


class DossierError(SohoaError):
    code = "dossier_error"
    http_status = 422


class NotFound(DossierError):
    """Also what a caller outside the unit's scope gets: existence is not leaked."""

    code = "not_found"
    http_status = 404


class Forbidden(DossierError):
    code = "forbidden"
    http_status = 403


class Unauthenticated(DossierError):
    code = "unauthorized"
    http_status = 401


class InvalidInput(DossierError):
    code = "invalid_input"
    http_status = 422


class Conflict(DossierError):
    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class IncompleteDossier(DossierError):
    code = "dossier_incomplete"
    http_status = 422


class CatalogError(DossierError):
    code = "catalog_invalid"
    http_status = 422


class SequenceExhausted(DossierError):
    code = "sequence_exhausted"
    http_status = 409
