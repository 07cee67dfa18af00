"""Memory limits for the programs OCR starts, so a page that slips past the budgets fails its
scan instead of taking the worker (and the machine's other scans) down with it.

How: a small ``tesseract`` wrapper (``ulimit -v`` then ``exec`` the real program) is put first
on this process's ``PATH``. OCRmyPDF starts Tesseract as ``tesseract`` through
``subprocess.run`` (``ocrmypdf/_exec/tesseract.py``) with a copy of ``os.environ``, and so do
our OSD probe and the index-only OCR, so every Tesseract child gets ``RLIMIT_AS`` and nothing
else changes. The alternatives were worse: ``preexec_fn`` needs OCRmyPDF's private ``run``
patched and is unsafe in a threaded process (OCRmyPDF runs pages on threads);
``resource.prlimit`` on a child after it started races its first allocations; a limit on the
worker itself would stop the worker, not the page. Rendering (PDFium, Pillow) runs in the
worker process, bounded by the page budgets and ``ocr.pdfium.MAX_PIXELS``, not here.

The limit is per process (``PATH`` is), set when an :class:`ocr.engine.OcrEngine` is made.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ocr.errors import OcrError

_lock = threading.Lock()
_folder: Path | None = None
#: What Tesseract and Leptonica print when an allocation fails under the limit.
_OUT_OF_MEMORY = (
    b"bad_alloc",
    b"Out of memory",
    b"out of memory",
    b"malloc fail",
    b"Cannot allocate memory",
    b"failed to map segment",
)


class ChildMemoryExceeded(OcrError):
    """An OCR child process ran out of its memory limit: the page is beyond what we read."""

    code = "ocr_memory_limit"
    http_status = 413
    retryable = False


def install(memory_mb: int) -> None:
    """Start every later ``tesseract`` of this process under ``memory_mb`` MB (0: no limit)."""
    global _folder
    with _lock:
        path = os.environ.get("PATH", os.defpath)
        if _folder is not None:
            path = os.pathsep.join(p for p in path.split(os.pathsep) if p != str(_folder))
        if memory_mb <= 0:
            os.environ["PATH"] = path
            return
        real = shutil.which("tesseract", path=path)
        if real is None:  # OCRmyPDF reports the missing program itself
            return
        if _folder is None:
            _folder = Path(tempfile.mkdtemp(prefix="sohoa-limits-"))
        wrapper = _folder / "tesseract"
        staged = _folder / "tesseract.new"
        staged.write_text(
            "#!/bin/sh\n"
            "# sohoa (ocr/childlimits.py): Tesseract under an address-space limit\n"
            f"ulimit -v {memory_mb * 1024} 2>/dev/null\n"
            f'exec {shlex.quote(real)} "$@"\n',
            encoding="utf-8",
        )
        staged.chmod(0o755)
        staged.replace(wrapper)  # atomic: a page starting now sees the old or the new limit
        os.environ["PATH"] = os.pathsep.join([str(_folder), path])


def memory_error(exc: BaseException) -> ChildMemoryExceeded | None:
    """The limit's error if ``exc`` (or what caused it) is a child that ran out of memory."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, subprocess.CalledProcessError):
            output = b"".join(
                part if isinstance(part, bytes) else str(part or "").encode()
                for part in (current.output, current.stderr)
            )
            if any(marker in output for marker in _OUT_OF_MEMORY):
                return ChildMemoryExceeded(
                    "Một trang cần nhiều bộ nhớ hơn mức cho phép khi nhận dạng chữ: hãy quét lại "
                    "ở 300 dpi hoặc chia tài liệu. (A page needs more memory than OCR may use.)"
                )
        current = current.__cause__ or current.__context__
    return None
