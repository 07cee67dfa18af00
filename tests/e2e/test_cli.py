"""The ``sohoa`` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ocr.pagegen import A6, render_page

pytestmark = pytest.mark.slow


def _sohoa(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        SOHOA_DATA_DIR=str(data_dir), OMP_THREAD_LIMIT="1", PYTHONWARNINGS="ignore", COLUMNS="200"
    )
    return subprocess.run(
        [sys.executable, "-m", "sohoa.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_digitize_then_verify(tmp_path: Path) -> None:
    page = render_page(
        size_in=A6, paragraphs=("Số: 7/TB-UBND", "THÔNG BÁO tiếp nhận hồ sơ"), seed=3
    )
    scan = tmp_path / "thong-bao.png"
    page.image.save(scan, dpi=(300, 300))
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a scan")
    data = tmp_path / "data"

    result = _sohoa(
        "digitize",
        str(scan),
        str(bogus),
        "--out",
        str(tmp_path / "out"),
        data_dir=data,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # one of the two files was refused
    assert (
        "thong-bao.png" in result.stdout and "digitized" in result.stdout and "yes" in result.stdout
    )
    assert "refused: unsupported_media_type" in result.stdout
    signed = tmp_path / "out" / "thong-bao.signed.pdf"
    assert signed.exists()

    ok = _sohoa("verify", str(signed), data_dir=data, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VALID" in ok.stdout and "Nguyễn Thị Lan" in ok.stdout

    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7 nothing here")
    bad = _sohoa("verify", str(garbage), data_dir=data, cwd=tmp_path)
    assert bad.returncode == 1 and "NOT VALID" in bad.stdout


def test_pki_init_is_marked_not_for_production(tmp_path: Path) -> None:
    result = _sohoa(
        "pki", "init", "--clerk", "clerk9:Lê Văn Hùng", data_dir=tmp_path / "data", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "NOT FOR PRODUCTION" in result.stdout
    readme = (tmp_path / "data" / "pki" / "README.txt").read_text()
    assert "not for production" in readme.lower()
    assert (tmp_path / "data" / "pki" / "clerks" / "clerk9.p12").exists()
