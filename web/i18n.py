"""The pages' language: Vietnamese unless the user switched; texts from :mod:`core.i18n`."""

from __future__ import annotations

from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Gettext, gettext_for

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Gettext", "gettext_for", "page_language"]


def page_language(chosen: str | None) -> str:
    """The cookie's choice, else Vietnamese: a counter PC's browser often asks for English
    without anyone having chosen it, so ``Accept-Language`` is not read for pages."""
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
