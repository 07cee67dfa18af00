"""One message catalog for the pages and the API's problem titles, read with Babel.

The source strings are English; ``locale/vi/LC_MESSAGES/messages.po`` gives Vietnamese, the
default language of every page. The catalog is read from its ``.po`` file when first asked (no
compile step), and a string without a translation falls back to its English source, which a
test forbids for Vietnamese.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LOCALE_DIR = Path(__file__).parent / "locale"
Gettext = Callable[..., str]


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid -> msgstr for ``lang`` (empty for English, the source language)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not path.exists():
        return {}
    with path.open("rb") as fh:
        po = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def gettext_for(lang: str) -> Gettext:
    """``_("Text {name}", name=x)``: the translation, formatted with ``str.format`` if asked."""
    table = catalog(lang if lang in LANGUAGES else DEFAULT_LANGUAGE)

    def _(message: str, /, **values: object) -> str:
        text = table.get(message, message)
        return text.format(**values) if values else text

    return _


def page_language(chosen: str | None) -> str:
    """Pages speak Vietnamese unless the user switched (a cookie): a counter PC's browser
    often asks for English without anyone having chosen it."""
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


def negotiate(accept_language: str | None) -> str | None:
    """For the API: the first supported language an ``Accept-Language`` header asks for."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return None
