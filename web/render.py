"""Templates and the request's page context: language, the signed-in user, the CSRF token.

Pages render through :func:`page`, which hands every template the same names: ``_`` (the
catalog's gettext for the page's language), ``user`` (a :class:`~dossiers.access.Principal` or
None), ``csrf`` (the token every form posts back), ``asset`` (a static file's URL with its
content hash, so a counter PC's cache never serves an old script) and formatting helpers that
show times in the installation's time zone.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from web.i18n import gettext_for, page_language

HERE = Path(__file__).parent
STATIC = HERE / "static"
LANG_COOKIE = "sohoa_lang"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset
    return env


@cache
def asset(name: str) -> str:
    """``/web/static/<name>?v=<hash>``: cached for a year, renamed by its content."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"/web/static/{name}?v={digest}"


def language(request: Request) -> str:
    return page_language(request.cookies.get(LANG_COOKIE))


def formatters(request: Request) -> dict[str, Any]:
    zone = ZoneInfo(request.app.state.services.settings.timezone)

    def when(value: datetime | None) -> str:
        """Local date and time, to the minute, as the counter's wall clock shows it."""
        if value is None:
            return ""
        return value.astimezone(zone).strftime("%d/%m/%Y %H:%M")

    def day(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(zone).date()
        return value.strftime("%d/%m/%Y")

    def money(value: int | None) -> str:
        """Đồng with dots between thousands, as printed on receipts."""
        return "" if value is None else f"{value:,}".replace(",", ".") + " đ"

    return {"when": when, "day": day, "money": money}


def page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    names: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "_": gettext_for(lang),
        "user": getattr(request.state, "web_user", None),
        "csrf": getattr(request.state, "web_csrf", ""),
        "path": request.url.path,
        # Where the language switch comes back to: this very page, its query included.
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    names.update(formatters(request))
    names.update(context)
    html = environment().get_template(template).render(names)
    return HTMLResponse(html, status_code=status_code, headers=headers)
