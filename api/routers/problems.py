"""``GET /problems/{code}``: where a problem's ``type`` URI leads.

A person following the link gets a short page in Vietnamese and English; a client asking for
``application/json`` gets the same entry as data. Public, like any documentation, and rate
limited like the other routes without a login.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import PublicLimit
from api.problem_types import ProblemType, problem_types
from api.problems import ApiProblem

router = APIRouter(tags=["problems"])

# The entries change only with a release.
CACHE = "public, max-age=3600"


@router.get(
    "/problems/{code}",
    dependencies=[PublicLimit],
    response_model=ProblemType,
    responses={
        200: {
            "description": "The explanation: an HTML page, or JSON when the client asks for "
            "application/json.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
def problem_type(
    request: Request,
    code: Annotated[str, Path(description="A problem's ``code``, e.g. dossier_not_found.")],
) -> Response:
    """What a problem code means and what to do about it, in Vietnamese and English.

    A code the catalog does not hold is a 404, so nothing of the path but a known code ever
    reaches the page."""
    entry = problem_types().get(code)
    if entry is None:
        raise ApiProblem(
            404,
            "problem_type_not_found",
            "Không có loại lỗi này (no such problem type).",
        )
    headers = {"Cache-Control": CACHE, "Vary": "Accept"}
    if _wants_json(request.headers.get("accept", "")):
        return Response(entry.model_dump_json(), media_type="application/json", headers=headers)
    return HTMLResponse(page(entry), headers=headers)


def _wants_json(accept: str) -> bool:
    """JSON only when asked for by name and not ranked below HTML (a browser asks for HTML)."""
    weights = {"application/json": 0.0, "text/html": 0.0}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        media = media.lower()
        if media not in weights:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media] = max(weights[media], q)
    return weights["application/json"] > weights["text/html"]


def page(entry: ProblemType) -> str:
    """The HTML page; every value is escaped, though all come from the catalog."""
    code = escape(entry.code)
    title, meaning, action = entry.title, entry.meaning, entry.action
    return f"""<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title.vi)} ({code}) · sohoa</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto;
  padding: 0 1rem; line-height: 1.5; color: #1a1a1a; }}
code {{ background: #f2f2f2; padding: 0.1rem 0.3rem; }}
section + section {{ border-top: 1px solid #ddd; margin-top: 1.5rem; }}
</style>
</head>
<body>
<p>Mã lỗi · problem code: <code>{code}</code></p>
<section>
<h1>{escape(title.vi)}</h1>
<p>{escape(meaning.vi)}</p>
<h2>Cần làm gì</h2>
<p>{escape(action.vi)}</p>
</section>
<section lang="en">
<h1>{escape(title.en)}</h1>
<p>{escape(meaning.en)}</p>
<h2>What to do</h2>
<p>{escape(action.en)}</p>
</section>
</body>
</html>
"""
