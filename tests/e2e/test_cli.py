"""The ``sohoa`` command as an operator uses it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.ocr.pagegen import A6, render_page

pytestmark = pytest.mark.slow


def _sohoa(*args: str, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        SOHOA_DATA_DIR=str(data_dir), OMP_THREAD_LIMIT="1", PYTHONWARNINGS="ignore", COLUMNS="200"
    )
    return subprocess.run(
        [sys.executable, "-m", "wiring.cli", *args],
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


def test_digitize_many_files_at_once_each_to_its_own_output(tmp_path: Path) -> None:
    """Files in flight together (two sharing a name): every one digitized, signed, kept apart."""
    import pikepdf

    from ocr.extract import page_texts

    words = ("THÔNG BÁO", "QUYẾT ĐỊNH", "GIẤY MỜI", "BIÊN BẢN", "TỜ TRÌNH")
    files = []
    for i, title in enumerate(words):
        page = render_page(size_in=A6, paragraphs=(title, f"Số: {i + 1}/UBND"), seed=i)
        path = tmp_path / ("giay.jpg" if i == 0 else "giay.png" if i == 1 else f"p{i}.jpg")
        page.image.save(path, dpi=(300, 300))
        files.append(path)
    out = tmp_path / "out"
    result = _sohoa(
        "digitize", *map(str, files), "--out", str(out), data_dir=tmp_path / "d", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [
        "giay.1.signed.pdf",
        "giay.2.signed.pdf",
        "p2.signed.pdf",
        "p3.signed.pdf",
        "p4.signed.pdf",
    ]
    assert sorted(p.name for p in out.iterdir()) == expected
    for name, title in zip(expected, words, strict=True):
        with pikepdf.open(out / name) as pdf:
            assert len(pdf.pages) == 1
        assert title in page_texts(out / name)[0], name  # each output is its own file's
    assert len(re.findall(r"\byes\b", result.stdout)) == 5  # every signature verified


def test_digitize_a_born_digital_pdf_and_a_poor_capture(tmp_path: Path) -> None:
    from fpdf import FPDF

    from tests.ocr.pagegen import SANS

    pdf = FPDF(format=(148, 210))
    pdf.add_font("noto", fname=str(SANS))
    pdf.set_font("noto", size=12)
    pdf.add_page()
    pdf.cell(0, 8, "Giấy xác nhận tình trạng hôn nhân")
    born_digital = tmp_path / "xac-nhan.pdf"
    pdf.output(str(born_digital))
    blank = tmp_path / "mat-sau.png"
    Image.new("L", (1240, 1754), 255).save(blank, dpi=(300, 300))
    data = tmp_path / "data"

    result = _sohoa(
        "digitize",
        str(born_digital),
        str(blank),
        "--out",
        str(tmp_path / "out"),
        data_dir=data,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(text 1)" in result.stdout and "(scan 1)" in result.stdout
    assert "mat-sau.png: rescan_suggested" in result.stdout  # said while the citizen is there

    refused = _sohoa(
        "digitize",
        str(born_digital),
        "--languages",
        "klingon",
        "--out",
        str(tmp_path / "o2"),
        data_dir=data,
        cwd=tmp_path,
    )
    assert refused.returncode == 1 and "refused: invalid_field" in refused.stdout


def test_pki_init_is_marked_not_for_production(tmp_path: Path) -> None:
    result = _sohoa(
        "pki", "init", "--clerk", "clerk9:Lê Văn Hùng", data_dir=tmp_path / "data", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "NOT FOR PRODUCTION" in result.stdout
    readme = (tmp_path / "data" / "pki" / "README.txt").read_text()
    assert "not for production" in readme.lower()
    assert (tmp_path / "data" / "pki" / "clerks" / "clerk9.p12").exists()


def test_sohoa_run_serves_api_and_worker_together(tmp_path: Path) -> None:
    """What `make run` ends in: one command, the embedded default, a scan goes all the way."""
    import socket
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(SOHOA_DATA_DIR=str(tmp_path / "data"), OMP_THREAD_LIMIT="1", PYTHONWARNINGS="ignore")
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wiring.cli", "run", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("sohoa run did not answer /healthz: " + (tmp_path / "run.log").read_text())
        banner = (tmp_path / "run.log").read_text()
        token = next(line.split()[1] for line in banner.splitlines() if line.startswith("token "))
        assert f"{base}/docs" in banner
        # The banner names the web page first, and the demo desk's clerk can sign in to it.
        lines = banner.splitlines()
        web = next(i for i, line in enumerate(lines) if line.startswith(f"web   {base}/web/"))
        assert all(not lines[i].startswith(("API ", "docs ", "token ")) for i in range(web))
        clerk = next(line.split()[2] for line in banner.splitlines() if "demo.quay" in line)
        with httpx.Client(base_url=base, follow_redirects=True) as browser:
            form = browser.get("/web/login").text
            nonce = re.search(r'name="nonce" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
            signed = browser.post("/web/login", data={"token": clerk, "nonce": nonce})
            assert signed.status_code == 200 and "Nguyễn Thị Mẫu" in signed.text
        auth = {"Authorization": f"Bearer {token}"}
        page = render_page(size_in=A6, paragraphs=("Số: 12/GP-UBND",), seed=5)
        scan = tmp_path / "gp.png"
        page.image.save(scan, dpi=(300, 300))
        with scan.open("rb") as f:
            created = httpx.post(
                f"{base}/api/v1/scans", headers=auth, files={"file": ("gp.png", f)}
            )
        assert created.status_code == 202, created.text
        url = f"{base}{created.json()['status_url']}"
        deadline = time.monotonic() + 300
        status = {}
        while time.monotonic() < deadline:
            status = httpx.get(url, headers=auth).json()
            if status["status"] in ("digitized", "failed"):
                break
            time.sleep(0.5)
        assert status["status"] == "digitized", (status, (tmp_path / "run.log").read_text()[-3000:])
        # make run's configuration signs B-LTA against its own TSA and OCSP responder, served
        # by this very process; an auditor's hard-fail check finds it proven at its timestamp.
        verified = httpx.get(
            f"{base}/api/v1/documents/{status['document_id']}/verification",
            params={"revocation": "hard-fail"},
            headers=auth,
        ).json()
        (sig,) = verified["signatures"]
        assert sig["pades_level"] == "B-LTA" and verified["ok"], verified
        assert sig["long_term"] == "TOTAL_PASSED/OK" and sig["proven_at"], sig
    finally:
        proc.terminate()  # as an operator's Ctrl-C or a process manager would
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # The worker that `run` started must not outlive it.
    deadline = time.monotonic() + 45
    while _processes_using(tmp_path / "data") and time.monotonic() < deadline:
        time.sleep(0.5)
    leftovers = _processes_using(tmp_path / "data")
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, "sohoa run left its worker running"


def _processes_using(data_dir: Path) -> list[int]:
    marker = f"SOHOA_DATA_DIR={data_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found
