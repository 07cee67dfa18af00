"""Error translation and the engine's set-up, without running Tesseract."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pikepdf
import pytest
from ocrmypdf import exceptions as ox
from PIL import Image

from ocr.engine import OcrEngine, OcrSettings
from ocr.errors import (
    OcrEngineError,
    OcrError,
    OcrInputError,
    OcrMissingDependency,
    OcrTimeout,
    PdfaValidationError,
    translate,
)


def _killed() -> ox.SubprocessOutputError:
    try:
        raise ox.SubprocessOutputError() from subprocess.CalledProcessError(-9, ["tesseract"])
    except ox.SubprocessOutputError as exc:
        return exc


def _failed() -> ox.SubprocessOutputError:
    try:
        raise ox.SubprocessOutputError() from subprocess.CalledProcessError(1, ["tesseract"])
    except ox.SubprocessOutputError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "kind", "code", "retryable"),
    [
        (ox.EncryptedPdfError(), OcrInputError, "ocr_input_invalid", False),
        (pikepdf.PasswordError("x"), OcrInputError, "ocr_input_invalid", False),
        (ox.InputFileError("bad"), OcrInputError, "ocr_input_invalid", False),
        (ox.DigitalSignatureError(), OcrInputError, "ocr_input_invalid", False),
        (ox.PriorOcrFoundError(), OcrInputError, "ocr_input_invalid", False),
        (ox.TaggedPDFError(), OcrInputError, "ocr_input_invalid", False),
        (ox.UnsupportedImageFormatError(), OcrInputError, "ocr_input_invalid", False),
        (Image.DecompressionBombError("big"), OcrInputError, "ocr_input_invalid", False),
        (pikepdf.PdfError("damaged"), OcrInputError, "ocr_input_invalid", False),
        (ox.MissingDependencyError("gs"), OcrMissingDependency, "ocr_dependency_missing", False),
        (ox.PdfaConversionFailedError(), PdfaValidationError, "pdfa_invalid", False),
        (subprocess.TimeoutExpired(["tesseract"], 180), OcrTimeout, "ocr_timeout", True),
        (_killed(), OcrEngineError, "ocr_engine_failed", True),
        (_failed(), OcrEngineError, "ocr_engine_failed", False),
        (ox.TesseractConfigError(), OcrEngineError, "ocr_engine_failed", False),
        (ox.BadArgsError("x"), OcrEngineError, "ocr_engine_failed", False),
        (BrokenProcessPool(), OcrEngineError, "ocr_engine_failed", True),
        (MemoryError(), OcrEngineError, "ocr_engine_failed", True),
        (FileNotFoundError(2, "No such file", "tesseract"), OcrMissingDependency, None, False),
        (ValueError("surprise"), OcrEngineError, "ocr_engine_failed", False),
    ],
)
def test_translate(exc: BaseException, kind: type, code: str | None, retryable: bool) -> None:
    err = translate(exc)
    assert type(err) is kind
    assert isinstance(err, OcrError)
    if code:
        assert err.code == code
    assert err.retryable is retryable
    assert str(err)


def test_error_behaviour_is_declared_on_the_classes() -> None:
    assert OcrError.http_status == 422 and not OcrError.retryable
    assert OcrTimeout.retryable and OcrTimeout.http_status == 503
    assert OcrEngineError("x", retryable=True).retryable
    assert not OcrEngineError("x").retryable
    assert not OcrEngineError.retryable  # the class default stays False
    assert translate(OcrInputError("kept")).args == ("kept",)


def test_import_is_cheap_and_has_no_side_effects() -> None:
    code = (
        "import os, sys; os.environ.pop('OMP_THREAD_LIMIT', None); import ocr, ocr.engine, "
        "ocr.errors, ocr.pdfa, ocr.extract, ocr.quality; "
        "assert 'ocrmypdf' not in sys.modules, 'ocrmypdf imported'; "
        "assert 'OMP_THREAD_LIMIT' not in os.environ"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_engine_sets_omp_thread_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    OcrEngine()
    import os

    assert os.environ["OMP_THREAD_LIMIT"] == "1"
    monkeypatch.setenv("OMP_THREAD_LIMIT", "3")
    OcrEngine()
    assert os.environ["OMP_THREAD_LIMIT"] == "3"  # an operator's choice is kept


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7\n%%EOF\n")
    with pytest.raises(OcrInputError):
        OcrEngine().run(bad, tmp_path / "out.pdf", work_dir=tmp_path / "w")


def test_corpus_encrypted_file(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(OcrInputError):
        OcrEngine(OcrSettings()).run(
            corpus / "ocrmypdf/skew-encrypted.pdf", tmp_path / "o.pdf", work_dir=tmp_path / "w"
        )
