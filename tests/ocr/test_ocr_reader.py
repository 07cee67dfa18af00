"""The direct Tesseract path (ocr.reader): same reading as OCRmyPDF, text where the words are."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2
import pytest

from ocr import reader
from ocr.engine import OcrEngine, OcrSettings
from ocr.extract import page_texts
from ocr.pdfa import check_pdfa
from ocr.quality import cer
from tests.ocr.pagegen import Page

MakeScan = Callable[..., tuple[Path, list[Page]]]


def _word_boxes(pdf: Path, page: int = 0) -> dict[str, tuple[float, float]]:
    """Centre of each word of three letters or more that occurs once on the page, in points."""
    doc = pypdfium2.PdfDocument(str(pdf))
    try:
        text = doc[page].get_textpage()
        chars = text.count_chars()
        full = text.get_text_range(0, chars)
        found: dict[str, list[tuple[float, float]]] = {}
        start = None
        for i in range(chars + 1):
            letter = i < chars and full[i].isalpha()
            if letter and start is None:
                start = i
            elif not letter and start is not None:
                word = full[start:i]
                if len(word) >= 3:
                    boxes = [text.get_charbox(k) for k in range(start, i)]
                    x = (min(b[0] for b in boxes) + max(b[2] for b in boxes)) / 2
                    y = (min(b[1] for b in boxes) + max(b[3] for b in boxes)) / 2
                    found.setdefault(word, []).append((x, y))
                start = None
        return {w: spots[0] for w, spots in found.items() if len(spots) == 1}
    finally:
        doc.close()


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_direct_reading_matches_ocrmypdf_in_text_and_place(
    make_scan: MakeScan, tmp_path: Path, turn: int
) -> None:
    """A turned and skewed page: the same words as OCRmyPDF, laid within a few points."""
    scan, _ = make_scan({"skew_deg": 1.5, "turn": turn})
    outputs = {}
    for direct in (True, False):
        engine = OcrEngine(OcrSettings(jobs=1, direct=direct))
        out = tmp_path / f"{direct}.pdf"
        result = engine.run(scan, out, work_dir=tmp_path / f"work-{direct}")
        assert check_pdfa(out).ok
        assert result.page_quality[0].ocr and result.page_quality[0].words > 10
        outputs[direct] = (result, out)
    (mine, mine_pdf), (theirs, theirs_pdf) = outputs[True], outputs[False]
    assert mine.rotated_pages == theirs.rotated_pages
    assert mine.deskewed_pages == theirs.deskewed_pages
    assert cer(theirs.page_texts[0], mine.page_texts[0]) < 0.01
    assert mine.page_quality[0].words == theirs.page_quality[0].words
    ours, ref = _word_boxes(mine_pdf), _word_boxes(theirs_pdf)
    shared = sorted(set(ours) & set(ref))
    assert len(shared) >= 5
    for word in shared:
        (x, y), (rx, ry) = ours[word], ref[word]
        assert abs(x - rx) < 6 and abs(y - ry) < 6, (word, ours[word], ref[word])


def test_plain_jpeg_goes_to_tesseract_as_stored(
    make_scan: MakeScan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upright scan is not decoded and re-encoded: Tesseract gets the stored JPEG."""
    scan, _ = make_scan({})
    with pikepdf.open(scan) as pdf:
        stored = next(iter(pdf.pages[0].get_images().values())).read_raw_bytes()
    seen: list[bytes] = []
    real = reader._tesseract

    def spy(image: Path, out: Path, *args: object) -> None:
        seen.append(image.read_bytes())
        real(image, out, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_tesseract", spy)
    engine = OcrEngine(OcrSettings(jobs=1))
    result = engine.run(scan, tmp_path / "out.pdf", work_dir=tmp_path / "work")
    assert seen == [stored]
    assert "THÔNG BÁO" in result.page_texts[0]
    assert not list((tmp_path / "work").rglob("image.*")), "page images are not kept"


def test_pages_sharing_resources_keep_their_own_text(make_scan: MakeScan, tmp_path: Path) -> None:
    """Two pages drawing one image through one /Resources: each gets one text layer."""
    scan, _ = make_scan({})
    shared = tmp_path / "shared.pdf"
    with pikepdf.open(scan) as pdf:
        first = pdf.pages[0]
        resources = pdf.make_indirect(first.obj.Resources)
        first.obj.Resources = resources
        pdf.pages.append(first)
        pdf.pages[1].obj.Resources = resources
        pdf.save(shared)
    engine = OcrEngine(OcrSettings(jobs=2))
    result = engine.run(shared, tmp_path / "out.pdf", work_dir=tmp_path / "work")
    assert result.pages == 2
    for text in result.page_texts:
        assert text.count("THÔNG BÁO") == 1  # not two layers on one page


def test_files_share_the_tesseract_slots(
    make_scan: MakeScan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three files at once on two jobs: never more than two Tesseracts, and two at a time."""
    real = reader._tesseract
    running, most = 0, 0
    lock = threading.Lock()

    def counted(*args: object) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.2)  # long enough for the others to queue up
            real(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(reader, "_tesseract", counted)
    engine = OcrEngine(OcrSettings(jobs=2))
    scans = [make_scan({}, {"seed": 1}, name=f"s{i}.pdf")[0] for i in range(3)]
    results: list[object] = []

    def run(i: int) -> None:
        results.append(
            engine.run(scans[i], tmp_path / f"o{i}.pdf", work_dir=tmp_path / f"w{i}").pages
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [2, 2, 2]
    assert most == 2


def test_a_page_the_reader_cannot_take_goes_to_ocrmypdf(
    make_scan: MakeScan, tmp_path: Path
) -> None:
    """A scan page that also draws a vector line is OCRmyPDF's: the file still comes out read."""
    scan, _ = make_scan({})
    with pikepdf.open(scan, allow_overwriting_input=True) as pdf:
        pdf.pages[0].contents_add(b"0 0 m 10 10 l S", prepend=False)
        pdf.save(scan)
    with pikepdf.open(scan) as pdf:
        assert not reader.eligible(pdf, [0])
    engine = OcrEngine(OcrSettings(jobs=1))
    out = tmp_path / "out.pdf"
    result = engine.run(scan, out, work_dir=tmp_path / "work")
    assert "THÔNG BÁO" in page_texts(out)[0]
    assert result.page_quality[0].ocr


def test_slots_are_shared_between_processes_and_freed_when_a_holder_dies(tmp_path: Path) -> None:
    """A slot held by a process that was killed is free again; a held one is not."""
    import multiprocessing
    import os
    import signal

    slots = reader.Slots(1, tmp_path / "slots")
    ready = multiprocessing.Event()

    def hold_forever() -> None:
        with slots.hold():
            ready.set()
            time.sleep(600)

    holder = multiprocessing.get_context("fork").Process(target=hold_forever)
    holder.start()
    try:
        assert ready.wait(30)
        got: list[int] = []

        def take() -> None:
            with slots.hold() as number:
                got.append(number)

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        waiter.join(0.5)
        assert got == [], "the only slot is held by another process"
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)  # dies holding it: the kernel lets go
        waiter.join(30)
        assert got == [0]
    finally:
        holder.kill()
        holder.join()


def test_progress_moves_while_pages_are_still_being_read(
    make_scan: MakeScan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter sees "page 1 of 3" before the last page is read, not all at the end."""
    real = reader.read_page
    first_reported = threading.Event()

    def last_waits(job: reader.PageJob, slot: Any) -> reader.PageText:
        if job.index == 2 and not first_reported.wait(60):
            raise AssertionError("no progress was reported while the last page waited")
        return real(job, slot)

    monkeypatch.setattr(reader, "read_page", last_waits)
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if done >= 1:
            first_reported.set()

    engine = OcrEngine(OcrSettings(jobs=1))
    scan, _ = make_scan({}, {"seed": 1}, {"seed": 2})
    engine.run(scan, tmp_path / "out.pdf", work_dir=tmp_path / "work", progress=progress)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_workers_sharing_a_data_dir_share_the_slots(tmp_path: Path) -> None:
    """Two processes' engines built from one data dir (compose: one host's workers) wait for
    the same slots; another data dir has its own."""
    from core.settings import Settings
    from wiring.factory import build

    def slots(data: Path) -> reader.Slots:
        queue = build(Settings(data_dir=data, ocr_slots=1)).ocr_engine.pages
        assert queue.slots is not None
        return queue.slots

    first, second, elsewhere = slots(tmp_path / "a"), slots(tmp_path / "a"), slots(tmp_path / "b")
    assert first.folder == tmp_path / "a" / "ocr-slots"
    got: list[str] = []

    def take(which: reader.Slots, name: str) -> None:
        with which.hold():
            got.append(name)

    with first.hold():
        other = threading.Thread(target=take, args=(elsewhere, "elsewhere"), daemon=True)
        other.start()
        other.join(30)
        waiting = threading.Thread(target=take, args=(second, "second"), daemon=True)
        waiting.start()
        waiting.join(0.5)
        assert got == ["elsewhere"], "the second engine waits for the first one's slot"
    waiting.join(30)
    assert got == ["elsewhere", "second"]
