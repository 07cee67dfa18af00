"""The citizen's status lookup as JSON: a dossier's code and the short secret printed on form 01
(and in its QR), for an app or the provincial portal to show what ``/web/status`` shows.

The rules are the domain's (:func:`dossiers.workflow.lookup.public_status`): an unknown code and a
wrong secret are one and the same 404, nothing more personal than the receipt is answered, and
every lookup, found or not, goes to the audit chain. Here only the public budget (429) and the
input's bounds (422) are added.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import PublicLimit, Svc
from api.problems import ApiProblem
from dossiers.workflow.consent import OptedOut, opt_out
from dossiers.workflow.lookup import PublicStatus, public_status
from storage.db import session_scope

router = APIRouter(prefix="/public", tags=["public"], dependencies=[PublicLimit])

# Longer than any code the generator makes (``000.00.16.H08-250101-0001``), short enough that
# nothing a caller sends is compared at length.
CODE_MAX = 64
SECRET_MAX = 32  # eight characters as printed, with room for dashes and spaces typed

NOT_FOUND = (
    "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này: kiểm tra lại hai mã trên phiếu "
    "tiếp nhận (mẫu 01). (No dossier answers this code and lookup secret.)"
)


# Reached with a credential in the URL and naming a person (masked): no cache on the way may keep
# it, nor a page it links to learn the URL.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.get("/dossiers/{code}")
def dossier_status(
    code: Annotated[str, Path(min_length=1, max_length=CODE_MAX, description="The dossier code.")],
    secret: Annotated[
        str,
        Query(
            min_length=1,
            max_length=SECRET_MAX,
            description="The lookup secret printed on form 01 (XXXX-XXXX; case, dashes and "
            "spaces do not matter).",
        ),
    ],
    response: Response,
    svc: Svc,
) -> PublicStatus:
    """A dossier's status for whoever holds its receipt: the same 404 for an unknown code and a
    wrong secret, so the answer tells nobody which codes exist."""
    response.headers.update(PRIVATE)
    with session_scope(svc.sessions) as session:
        found = public_status(session, code, secret, svc.url_secret, svc.clock())
    if found is None:
        raise _not_found()
    return found


@router.post("/dossiers/{code}/opt-out")
def notifications_opt_out(
    code: Annotated[
        str,
        Path(
            min_length=1,
            max_length=CODE_MAX,
            description="The dossier code (before reception: the id its messages name).",
        ),
    ],
    secret: Annotated[
        str,
        Query(min_length=1, max_length=SECRET_MAX, description="The lookup secret."),
    ],
    response: Response,
    svc: Svc,
) -> OptedOut:
    """Stop the citizen's notifications for a dossier: the link at the foot of each message
    (and e-mail's one-click List-Unsubscribe). The same 404 as the lookup for an unknown code
    and a wrong secret; repeating it changes nothing."""
    response.headers.update(PRIVATE)
    with session_scope(svc.sessions) as session:
        done = opt_out(session, code, secret, svc.url_secret, svc.clock())
    if done is None:
        raise _not_found()
    return done


def _not_found() -> ApiProblem:
    """One answer for an unknown code and a wrong secret, headers included."""
    return ApiProblem(404, "dossier_not_found", NOT_FOUND, headers=PRIVATE)
