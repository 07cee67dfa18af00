"""One message catalog, read with Babel: the web page's texts and the API's problem titles.

The source strings are English; ``locale/vi/LC_MESSAGES/messages.po`` gives their Vietnamese
(``scripts/messages.py`` keeps it in step with the code, and a test forbids a string without
its Vietnamese). The catalog is read from its ``.po`` file when first asked, not at import and
with no compile step. A string without a translation falls back to its English source.
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


def N_(message: str) -> str:  # the name gettext tools look for
    """Marks a string for the catalog where it is defined; it is translated where it is shown."""
    return message


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


def negotiate(accept_language: str | None) -> str | None:
    """The first supported language an ``Accept-Language`` header asks for, if any."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return None
