"""One A4 fpdf2 document set up the way every printed page of sohoa is.

Portrait A4 in millimetres, the caller's margins and bottom break, Noto Sans regular and bold
embedded under one family name (fpdf2 subsets them and writes a ToUnicode map, so the text
stays searchable with its diacritics), and the document information a reader or an archive
looks for. The fonts are checked first, so a missing file is a :class:`FontMissingError`
rather than fpdf2's ``FileNotFoundError`` halfway through a page.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from fpdf import FPDF

from paper.fonts import Fonts

__all__ = ["FAMILY", "a4_document"]

FAMILY = "NotoSans"

PdfT = TypeVar("PdfT", bound=FPDF)


def a4_document(
    cls: type[PdfT],
    fonts: Fonts,
    *,
    margins: tuple[float, float, float],
    bottom: float,
    title: str,
    subject: str,
    author: str,
    creator: str,
    lang: str,
    created_at: datetime,
    family: str = FAMILY,
) -> PdfT:
    """A new ``cls`` (an ``FPDF`` subclass, which draws its own header or footer) on A4.

    ``margins`` are left, top and right in mm; a page breaks ``bottom`` mm above the edge.
    ``created_at`` is the creation date as written: pass the document's own time, not now,
    so the same input gives the same bytes.
    """
    fonts.check()
    pdf = cls(orientation="P", unit="mm", format="A4")
    left, top, right = margins
    pdf.set_margins(left, top, right)
    pdf.set_auto_page_break(True, margin=bottom)
    pdf.add_font(family, "", str(fonts.regular))
    pdf.add_font(family, "B", str(fonts.bold))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_subject(subject)
    pdf.set_creator(creator)
    pdf.set_lang(lang)
    pdf.set_creation_date(created_at)
    return pdf
