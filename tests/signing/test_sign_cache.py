"""What the signer keeps between documents must never leak from one document into the next.

Kept per process: the stamp's embedded font programs (by glyph set), the CMS room estimate
(per key), the signing-certificate-v2 attribute (per key), and the original's hash while it is
copied. Each test here fails if one of them shows another document's text, drops a glyph, or
breaks a signature, also with threads racing on cold caches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import pikepdf
import pytest
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import general

from signing import backends
from signing.backends import RegistryConfig, SignerRegistry
from signing.pki import DevPki
from signing.sign import DocumentSigner, SignResult
from signing.stamp import scan_stamp_lines, stamp_font_factory
from signing.verify import verify_pdf
from tests.fixtures.pki import DEV_PASSWORD

T0 = dt.datetime(2026, 11, 27, 2, 5, tzinfo=dt.UTC)  # 09:05 in Hà Nội


@pytest.fixture
def registry(dev_pki: DevPki) -> SignerRegistry:
    """A fresh registry: new backends, so the per-key caches start cold."""
    return SignerRegistry(
        RegistryConfig(kind="pkcs12", pkcs12_dir=dev_pki.directory, pkcs12_password=DEV_PASSWORD)
    )


@pytest.fixture
def font_copy(stamp_font: Path, tmp_path: Path) -> Path:
    """The stamp font under a new path: a factory (and program cache) of its own."""
    copy = tmp_path / "font" / stamp_font.name
    copy.parent.mkdir()
    shutil.copyfile(stamp_font, copy)
    return copy


class Stamp:
    """The visible stamp of a signed file, read back from its appearance stream."""

    def __init__(self, path: Path) -> None:
        with pikepdf.open(path) as pdf:
            (widget,) = [a for a in pdf.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig"]
            form = widget.AP.N
            ((_, font),) = dict(form.Resources.Font).items()
            descendant = font.DescendantFonts[0]
            self.program = descendant.FontDescriptor.FontFile2.read_bytes()
            self.base_font = str(descendant.BaseFont)
            to_unicode = _parse_to_unicode(font.ToUnicode.read_bytes())
            self.lines: list[str] = []
            self.drawn: list[str] = []  # the same text, decoded from the glyphs drawn
            self.gids: set[int] = set()
            for operands, operator in pikepdf.parse_content_stream(form):
                if operator == pikepdf.Operator("BDC") and len(operands) == 2:
                    props = operands[1]
                    if isinstance(props, pikepdf.Dictionary) and "/ActualText" in props:
                        self.lines.append(str(props.ActualText))
                if operator == pikepdf.Operator("TJ"):
                    gids = [
                        int.from_bytes(bytes(item)[i : i + 2], "big")
                        for item in operands[0]
                        if isinstance(item, pikepdf.String)
                        for i in range(0, len(bytes(item)), 2)
                    ]
                    self.gids.update(gids)
                    self.drawn.append(
                        "".join(to_unicode.get(g, "\N{REPLACEMENT CHARACTER}") for g in gids)
                    )

    def missing_outlines(self, full_font: Path) -> list[str]:
        """Characters drawn whose glyph has an outline in the full font but not in the file."""
        with TTFont(BytesIO(self.program)) as embedded, TTFont(str(full_font)) as full:
            order = full.getGlyphOrder()
            glyf, ours = full["glyf"], embedded["glyf"]
            embedded_order = embedded.getGlyphOrder()
            missing = []
            for gid in sorted(self.gids):
                if glyf[order[gid]].numberOfContours == 0:
                    continue  # a space: nothing to draw
                if gid >= len(embedded_order) or ours[embedded_order[gid]].numberOfContours == 0:
                    missing.append(order[gid])
            return missing


def _parse_to_unicode(cmap: bytes) -> dict[int, str]:
    text = cmap.decode("ascii")
    out: dict[int, str] = {}
    for block in re.findall(r"beginbfchar(.*?)endbfchar", text, re.S):
        for cid, uni in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            out[int(cid, 16)] = bytes.fromhex(uni).decode("utf-16-be")
    for block in re.findall(r"beginbfrange(.*?)endbfrange", text, re.S):
        for start, _end, targets in re.findall(
            r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*\[([^\]]*)\]", block
        ):
            for i, uni in enumerate(re.findall(r"<([0-9a-fA-F]+)>", targets)):
                out[int(start, 16) + i] = bytes.fromhex(uni).decode("utf-16-be")
    return out


def _sign(
    signer: DocumentSigner, src: Path, dst: Path, backend: backends.SignerBackend, at: dt.datetime
) -> SignResult:
    return signer.sign(
        src,
        dst,
        backend,
        stamp_lines=scan_stamp_lines(backend.name, at),
        reason="Số hóa từ bản giấy",
        location="Việt Nam",
    )


def _check(result: SignResult, lines: list[str], font: Path, trust_roots: list) -> Stamp:
    stamp = Stamp(result.path)
    assert stamp.lines == lines
    assert stamp.drawn == lines  # every glyph maps back to its own character
    assert stamp.missing_outlines(font) == []
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    report = verify_pdf(result.path, trust_roots=trust_roots, expected_sha256=result.sha256)
    assert report.ok, report.to_dict()
    return stamp


def test_documents_in_a_row_show_their_own_stamp(
    font_copy: Path,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(font_copy)
    factory = stamp_font_factory(font_copy)
    lan, binh = registry.for_clerk("lan.nt"), registry.for_clerk("binh.tv")
    jobs = [
        (lan, T0),
        (lan, T0 + dt.timedelta(days=40, hours=3, minutes=58)),  # other digits, same glyph set
        (binh, T0 + dt.timedelta(minutes=1)),  # other letters: a new program
        (lan, T0 + dt.timedelta(hours=11)),
    ]
    stamps = []
    for i, (backend, at) in enumerate(jobs):
        result = _sign(signer, pdfa_input, tmp_path / f"{i}.pdf", backend, at)
        stamps.append(_check(result, scan_stamp_lines(backend.name, at), font_copy, trust_roots))
    assert stamps[0].lines[0] == "Người số hóa: Nguyễn Thị Lan"
    assert stamps[1].lines[1] == "Thời gian: 06/01/2027 13:03"
    assert stamps[2].lines[0] == "Người số hóa: Trần Văn Bình"
    assert factory.subsets_made == 2  # Lan's program made once and reused twice
    assert stamps[0].program == stamps[1].program == stamps[3].program != stamps[2].program
    # Each document names its own subset, even when the program is shared.
    assert len({s.base_font for s in stamps}) == 4


def test_default_stamp_after_scan_stamps(
    font_copy: Path, registry: SignerRegistry, pdfa_input: Path, trust_roots: list, tmp_path: Path
) -> None:
    """The unit's stamp (name and signing time, seconds) after cached clerk programs."""
    signer = DocumentSigner(font_copy)
    lan, unit = registry.for_clerk("lan.nt"), registry.unit()
    _check(
        _sign(signer, pdfa_input, tmp_path / "a.pdf", lan, T0),
        scan_stamp_lines(lan.name, T0),
        font_copy,
        trust_roots,
    )
    result = signer.sign(
        pdfa_input, tmp_path / "b.pdf", unit, stamp_lines=None, reason="r", location="l"
    )
    local = result.signing_time
    _check(
        result,
        [f"Đã ký số bởi: {unit.name}", f"Thời gian: {local:%d/%m/%Y %H:%M:%S}"],
        font_copy,
        trust_roots,
    )


def test_one_signer_from_four_threads_on_cold_caches(
    font_copy: Path,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
) -> None:
    signer = DocumentSigner(font_copy)
    lan, binh = registry.for_clerk("lan.nt"), registry.for_clerk("binh.tv")
    jobs = [((lan, binh)[i % 2], T0 + dt.timedelta(days=i, minutes=7 * i)) for i in range(12)]
    start = threading.Barrier(4)

    def work(i: int) -> SignResult:
        if i < 4:
            start.wait()  # the first four start together, on empty caches
        backend, at = jobs[i]
        return _sign(signer, pdfa_input, tmp_path / f"t{i}.pdf", backend, at)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(len(jobs))))
    for (backend, at), result in zip(jobs, results, strict=True):
        _check(result, scan_stamp_lines(backend.name, at), font_copy, trust_roots)
    assert len({r.sha256 for r in results}) == len(jobs)
    assert stamp_font_factory(font_copy).subsets_made <= 4 * 2  # races may duplicate, not more


def test_signing_certificate_attribute_made_once_and_as_pyhanko_makes_it(
    stamp_font: Path,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[object] = []
    real = general.as_signing_certificate_v2

    def counting(cert, hash_algo="sha256"):  # type: ignore[no-untyped-def]
        made.append(cert)
        return real(cert, hash_algo)

    monkeypatch.setattr(backends, "as_signing_certificate_v2", counting)
    signer = DocumentSigner(stamp_font)
    lan = registry.for_clerk("lan.nt")
    results = [_sign(signer, pdfa_input, tmp_path / f"{i}.pdf", lan, T0) for i in range(3)]
    assert len(made) == 1
    for result in results:
        assert verify_pdf(result.path, trust_roots=trust_roots).ok
    with results[-1].path.open("rb") as f:
        (sig,) = PdfFileReader(f).embedded_signatures
        attrs = {a["type"].native: a for a in sig.signer_info["signed_attrs"]}
        (value,) = attrs["signing_certificate_v2"]["values"]
        assert value.dump() == real(lan.certificate).dump()


def test_room_for_the_signature_estimated_once_per_key(
    stamp_font: Path,
    registry: SignerRegistry,
    pdfa_input: Path,
    trust_roots: list,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = DocumentSigner(stamp_font)
    dry_runs: list[str] = []
    for backend in (registry.for_clerk("lan.nt"), registry.unit()):
        pyhanko_signer = backend.pyhanko_signer()
        real = pyhanko_signer.async_sign

        async def counting(*args, _real=real, _name=backend.name, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs.get("dry_run"):
                dry_runs.append(_name)
            return await _real(*args, **kwargs)

        monkeypatch.setattr(pyhanko_signer, "async_sign", counting)
    lan, unit = registry.for_clerk("lan.nt"), registry.unit()
    results = [_sign(signer, pdfa_input, tmp_path / f"l{i}.pdf", lan, T0) for i in range(3)]
    results.append(_sign(signer, pdfa_input, tmp_path / "u.pdf", unit, T0))
    assert sorted(dry_runs) == sorted([lan.name, unit.name])
    assert all(verify_pdf(r.path, trust_roots=trust_roots).ok for r in results)


def test_hash_of_a_file_signed_twice(
    stamp_font: Path, registry: SignerRegistry, pdfa_input: Path, trust_roots: list, tmp_path: Path
) -> None:
    """The second signature appends to a signed file: its hash still covers every byte."""
    signer = DocumentSigner(stamp_font)
    lan, binh = registry.for_clerk("lan.nt"), registry.for_clerk("binh.tv")
    first = _sign(signer, pdfa_input, tmp_path / "1.pdf", lan, T0)
    second = signer.sign(
        first.path, tmp_path / "2.pdf", binh, stamp_lines=None, reason="r", location="l"
    )
    data = second.path.read_bytes()
    assert data.startswith(first.path.read_bytes())
    assert second.sha256 == hashlib.sha256(data).hexdigest() and second.size == len(data)
    report = verify_pdf(second.path, trust_roots=trust_roots, expected_sha256=second.sha256)
    assert report.ok and len(report.signatures) == 2, report.to_dict()


CFF_FONT = Path("/usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf")


@pytest.mark.skipif(not CFF_FONT.is_file(), reason=f"{CFF_FONT} missing (fonts-urw-base35)")
def test_a_cff_font_is_embedded_as_pyhanko_does(
    registry: SignerRegistry, pdfa_input: Path, trust_roots: list, tmp_path: Path
) -> None:
    """Only TrueType programs are cached; a CFF font still signs, embedded by pyHanko."""
    signer = DocumentSigner(CFF_FONT)
    lan = registry.for_clerk("lan.nt")
    results = [
        signer.sign(
            pdfa_input,
            tmp_path / f"{i}.pdf",
            lan,
            stamp_lines=[f"Ban {i}"],
            reason="r",
            location="l",
        )
        for i in range(2)
    ]
    for i, result in enumerate(results):
        assert verify_pdf(result.path, trust_roots=trust_roots).ok
        with pikepdf.open(result.path) as pdf:
            (widget,) = [a for a in pdf.pages[0].get("/Annots", []) if a.get("/FT") == "/Sig"]
            form = widget.AP.N
            ((_, font),) = dict(form.Resources.Font).items()
            assert "/FontFile3" in font.DescendantFonts[0].FontDescriptor
            assert f"/ActualText (Ban {i})".encode() in form.read_bytes()
    assert stamp_font_factory(CFF_FONT).subsets_made == 0
