"""check_pdfa on hand-made PDFs: each property on its own, nested fonts, a pyHanko signature."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String

from ocr.pdfa import check_pdfa

NOTO = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")


def _pdfa(pdf: pikepdf.Pdf, *, part: str = "2", conformance: str = "B", intent: bool = True):
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["pdfaid:part"] = part
        meta["pdfaid:conformance"] = conformance
    if intent:
        pdf.Root.OutputIntents = Array(
            [
                Dictionary(
                    Type=Name.OutputIntent,
                    S=Name.GTS_PDFA1,
                    OutputConditionIdentifier=String("sRGB"),
                    DestOutputProfile=pdf.make_stream(b"not a real ICC profile", N=3),
                )
            ]
        )


def _embedded_font(pdf: pikepdf.Pdf) -> Dictionary:
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/ABCDEF+NotoSans"),
        FontFile2=pdf.make_stream(NOTO.read_bytes()[:64]),
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.TrueType,
            BaseFont=Name("/ABCDEF+NotoSans"),
            FontDescriptor=descriptor,
        )
    )


def _helvetica(pdf: pikepdf.Pdf) -> Dictionary:
    """The classic non-embedded standard-14 reference."""
    return pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica)
    )


def _page_with_font(pdf: pikepdf.Pdf, font: Dictionary) -> pikepdf.Page:
    page = pdf.add_blank_page(page_size=(200, 200))
    page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 10 10 Td (Hi) Tj ET")
    return page


def test_valid_claim_intent_and_embedded_fonts(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    _page_with_font(pdf, _embedded_font(pdf))
    _pdfa(pdf)
    pdf.save(tmp_path / "a.pdf")
    report = check_pdfa(tmp_path / "a.pdf")
    assert report.ok, report.problems
    assert (report.part, report.conformance) == (2, "B")
    assert report.has_output_intent and report.fonts_embedded
    assert report.unembedded_fonts == [] and report.problems == []


def test_plain_pdf_is_not_pdfa(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(tmp_path / "plain.pdf")
    report = check_pdfa(tmp_path / "plain.pdf")
    assert not report.ok
    assert report.part is None and report.conformance is None
    assert not report.has_output_intent
    assert report.fonts_embedded  # no fonts at all
    assert len(report.problems) == 2


def test_unembedded_helvetica_is_flagged(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    _page_with_font(pdf, _helvetica(pdf))
    _pdfa(pdf)
    pdf.save(tmp_path / "helv.pdf")
    report = check_pdfa(tmp_path / "helv.pdf")
    assert not report.ok
    assert not report.fonts_embedded
    assert report.unembedded_fonts == ["Helvetica"]
    assert report.problems == ["font not embedded: Helvetica"]


@pytest.mark.parametrize(
    ("part", "conformance", "intent"),
    [("1", "B", True), ("2", "U", True), ("3", "B", True), ("2", "B", False)],
)
def test_wrong_claim_or_missing_intent(
    tmp_path: Path, part: str, conformance: str, intent: bool
) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    _pdfa(pdf, part=part, conformance=conformance, intent=intent)
    pdf.save(tmp_path / "x.pdf")
    report = check_pdfa(tmp_path / "x.pdf")
    assert not report.ok
    assert report.part == int(part) and report.conformance == conformance
    assert report.has_output_intent is intent


def test_fonts_in_forms_annotations_and_inherited_resources(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(200, 200))
    inner = pdf.make_stream(
        b"BT /F2 9 Tf (x) Tj ET",
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[0, 0, 10, 10],
        Resources=Dictionary(Font=Dictionary(F2=_helvetica(pdf))),
    )
    outer = pdf.make_stream(
        b"/Fx1 Do",
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[0, 0, 10, 10],
        Resources=Dictionary(XObject=Dictionary(Fx1=inner)),
    )
    outer.Resources.XObject.Self = outer  # a cycle must not loop forever
    courier = pdf.make_indirect(
        Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Courier)
    )
    appearance = pdf.make_stream(
        b"BT /F3 9 Tf (sig) Tj ET",
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=[0, 0, 50, 20],
        Resources=Dictionary(Font=Dictionary(F3=courier)),
    )
    page.obj.Annots = Array(
        [
            pdf.make_indirect(
                Dictionary(
                    Type=Name.Annot,
                    Subtype=Name.Stamp,
                    Rect=[0, 0, 50, 20],
                    AP=Dictionary(N=Dictionary(On=appearance)),
                )
            )
        ]
    )
    # Resources on the /Pages node, inherited by a page that has none of its own.
    if "/Resources" in page.obj:
        del page.obj["/Resources"]
    pdf.Root.Pages.Resources = Dictionary(XObject=Dictionary(Fx0=outer))
    page.obj.Contents = pdf.make_stream(b"/Fx0 Do")
    type3 = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type3,
        FontBBox=[0, 0, 1, 1],
        FontMatrix=[1, 0, 0, 1, 0, 0],
        CharProcs=Dictionary(),
        Encoding=Dictionary(Differences=[]),
        FirstChar=0,
        LastChar=0,
        Widths=[0],
    )
    second = pdf.add_blank_page(page_size=(200, 200))
    second.obj.Resources = Dictionary(Font=Dictionary(T3=pdf.make_indirect(type3)))
    _pdfa(pdf)
    pdf.save(tmp_path / "nested.pdf")
    report = check_pdfa(tmp_path / "nested.pdf")
    assert report.unembedded_fonts == ["Courier", "Helvetica"]  # Type3 is fine
    assert not report.ok


def test_cid_font_checks_the_descendant(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    embedded = _embedded_font(pdf)
    cid = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/ABCDEF+NotoSans"),
            FontDescriptor=embedded.FontDescriptor,
        )
    )
    type0 = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type0,
        BaseFont=Name("/ABCDEF+NotoSans"),
        Encoding=Name("/Identity-H"),
        DescendantFonts=Array([cid]),
    )
    bare = Dictionary(
        Type=Name.Font, Subtype=Name.Type0, BaseFont=Name("/MSung"), DescendantFonts=Array([])
    )
    page = _page_with_font(pdf, pdf.make_indirect(type0))
    page.obj.Resources.Font.F2 = pdf.make_indirect(bare)
    _pdfa(pdf)
    pdf.save(tmp_path / "cid.pdf")
    assert check_pdfa(tmp_path / "cid.pdf").unembedded_fonts == ["MSung"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn A (test)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem, cert_pem = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_pem, cert_pem


@pytest.mark.parametrize("embedded_font", [True, False])
def test_signed_file_with_a_visible_stamp(tmp_path: Path, embedded_font: bool) -> None:
    """pyHanko appends a widget whose appearance uses its font: embedded Noto passes, the
    default Courier does not."""
    from pyhanko import stamp
    from pyhanko.pdf_utils import text
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    pdf = pikepdf.new()
    _page_with_font(pdf, _embedded_font(pdf))
    _pdfa(pdf)
    pdf.save(tmp_path / "in.pdf")
    key_pem, cert_pem = _self_signed(tmp_path)
    signer = signers.SimpleSigner.load(str(key_pem), str(cert_pem))
    style = stamp.TextStampStyle(stamp_text="Ký bởi %(signer)s")
    if embedded_font:
        style = stamp.TextStampStyle(
            stamp_text="Ký bởi %(signer)s",
            text_box_style=text.TextBoxStyle(font=GlyphAccumulatorFactory(str(NOTO))),
        )
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Sig1"),
        signer=signer,
        stamp_style=style,
        new_field_spec=fields.SigFieldSpec("Sig1", box=(10, 120, 190, 170)),
    )
    with (tmp_path / "in.pdf").open("rb") as inf, (tmp_path / "signed.pdf").open("wb") as out:
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(inf), output=out)
    report = check_pdfa(tmp_path / "signed.pdf")
    assert (report.part, report.conformance, report.has_output_intent) == (2, "B", True)
    if embedded_font:
        assert report.ok, report.problems
    else:
        assert not report.ok
        assert report.unembedded_fonts == ["Courier"]
