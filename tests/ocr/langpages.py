"""Non-Vietnamese and low-quality test pages with exact ground truth (no Tesseract here).

Shared by tests/ocr/test_ocr_language.py, tests/ocr/test_ocr_capture.py and bench/languages.py.
The French and English paragraphs were written for these tests (no third-party text).
"""

from __future__ import annotations

from pathlib import Path

import img2pdf
from PIL import Image

from tests.conftest import CORPUS
from tests.ocr.pagegen import A6, Page, render_page

ENGLISH_GT = CORPUS / "english_gt/tesseract_test"
ADMIN_JPG = CORPUS / "vietnamese/real_photos_scans/administrative_documents.jpg"

FRENCH: tuple[str, ...] = (
    "RÉPUBLIQUE FRANÇAISE",
    "Mairie de Saint-Étienne-du-Rouvray",
    "Attestation de dépôt de dossier",
    "Le maire certifie que la demande présentée par Madame Hélène Garçon a été reçue au "
    "guichet unique le douze février, avec les pièces justificatives prévues par le code "
    "des relations entre le public et l'administration.",
    "Les pièces d'état civil ont été numérisées et signées électroniquement ; les originaux "
    "sont rendus à l'intéressée. Le délai d'instruction est de deux mois à compter de la "
    "date du dépôt.",
    "Pour toute réclamation, la déclarante peut s'adresser au service des affaires "
    "générales, où un agent lui répondra dans les meilleurs délais.",
)

ENGLISH: tuple[str, ...] = (
    "NOTICE OF RECEIPT",
    "The applicant filed the request for a certified copy of the birth record at the one-stop "
    "counter on the twelfth of March, together with the identity card and the letter of "
    "authorization signed by the holder.",
    "The clerk scanned each page, checked that the copy was legible and returned the originals "
    "to the applicant. The certified copy will be ready within three working days and may be "
    "collected in person or sent by post.",
    "Any question about this notice should be addressed to the office of general affairs, "
    "which will reply as soon as it can.",
)


def render(paragraphs: tuple[str, ...], **kw: object) -> Page:
    """An A6 page at 300 dpi (about a second of Tesseract), Noto Serif 10 pt by default."""
    kw.setdefault("size_in", A6)
    kw.setdefault("font_pt", 10)
    return render_page(paragraphs, **kw)  # type: ignore[arg-type]


def image_pdf(image: Path | Image.Image, out: Path, *, dpi: float | None = None) -> Path:
    """One-page PDF of an image file's own bytes (or a rendered image), at ``dpi`` if given."""
    if isinstance(image, Image.Image):
        import io

        buf = io.BytesIO()
        image.save(buf, "PNG", dpi=image.info.get("dpi", (300, 300)))
        data: bytes | str = buf.getvalue()
    else:
        data = str(image)
    if dpi is None:
        out.write_bytes(img2pdf.convert(data))
    else:
        layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
        out.write_bytes(img2pdf.convert(data, layout_fun=layout))
    return out


def downsample(page: Page, dpi: int) -> Image.Image:
    """A 300 dpi render as a scanner set to ``dpi`` would have delivered it."""
    im = page.image
    src = im.info.get("dpi", (300, 300))[0]
    small = im.resize(
        (round(im.width * dpi / src), round(im.height * dpi / src)), Image.Resampling.LANCZOS
    )
    small.info["dpi"] = (dpi, dpi)
    return small
