"""Hostile-upload probe: every hostile file we know through the real API and one worker.

An attacker's and a clumsy user's uploads, sent through ``sohoa api`` as a counter would send them
(the corpus's ``hostile/`` files plus files made here: a sub-kilobyte PDF with a 200-inch page, a
page enlarged by /UserUnit, a 1 MB content stream that inflates to 1 GiB, the same bomb in a
stream no page uses, JavaScript/launch/embedded-file smuggling, a pixel-bomb PNG, 20 MB of junk
three times, and a chunked body of small form fields). Each upload's answer and, for accepted
ones, how its scan ended are printed, with the peak RSS of the API's and the worker's process
trees over the whole run and the bytes the refusals left in the data dir.

The run is the closing check of the hardening work: nothing may answer 5xx, no process may die,
and every accepted hostile file must end ``failed`` with a reason code or ``digitized`` without
its hostile content. Usage: ``python bench/hostile.py [--flood-mb 600] [--concurrency 2]``
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import httpx  # noqa: E402

from bench._topology import Backends, Stack, run_main  # noqa: E402
from bench.memory import TreeSampler  # noqa: E402
from tests.conftest import _corpus  # noqa: E402

GIB = 1024**3


# ---------------------------------------------------------------------------------------------
# Hostile files made here


def _raw_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies, with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, root, xref)
    )
    return out.getvalue()


def _stream(data: bytes, extra: bytes = b"", flate: bool = False) -> bytes:
    filt = b" /Filter /FlateDecode" if flate else b""
    return b"<< /Length %d%s %s >>\nstream\n" % (len(data), filt, extra) + data + b"\nendstream"


def _one_page(
    media: bytes,
    content: bytes,
    *,
    page_extra: bytes = b"",
    more: list[bytes] | None = None,
    catalog_extra: bytes = b"",
    flate: bool = False,
) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox "
        + media
        + b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R "
        + page_extra
        + b" >>",
        _stream(content, flate=flate),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *(more or []),
    ]
    return _raw_pdf(objects)


TEXT = b"BT /F1 24 Tf 72 720 Td (Giay to hostile probe) Tj ET"


def _bomb(size: int) -> bytes:
    """``size`` bytes of harmless content operators, deflated (about 1000:1)."""
    comp = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    parts = [comp.compress(TEXT + b"\n")]
    for _ in range(size // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.flush())
    return b"".join(parts)


def made_files(dest: Path) -> list[Path]:
    files: dict[str, bytes] = {}
    files["huge-page-200in.pdf"] = _one_page(b"[0 0 14400 14400]", TEXT)
    files["huge-page-userunit.pdf"] = _one_page(
        b"[0 0 612 792]", TEXT, page_extra=b"/UserUnit 5000"
    )
    bomb = _bomb(GIB)
    files["inflate-bomb-1gib.pdf"] = _one_page(b"[0 0 612 792]", bomb, flate=True)
    files["inflate-bomb-unused-stream.pdf"] = _one_page(
        b"[0 0 612 792]", TEXT, catalog_extra=b"/Junk 6 0 R", more=[_stream(bomb, flate=True)]
    )
    files["smuggled-js-launch-embedded.pdf"] = _one_page(
        b"[0 0 612 792]",
        TEXT,
        page_extra=b"/AA << /O << /S /JavaScript /JS (app.alert(1)) >> >>",
        catalog_extra=(
            b"/OpenAction << /S /Launch /F (cmd.exe) >> "
            b"/Names << /EmbeddedFiles << /Names [(x.exe) << /Type /Filespec /F (x.exe) "
            b"/EF << /F 6 0 R >> >>] >> /JavaScript << /Names [(a) << /S /JavaScript /JS (1) >>] >> >>"
        ),
        more=[_stream(b"MZ" + b"\0" * 4096, b"/Type /EmbeddedFile")],
    )
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (60000, 60000), 1).save(buf, "PNG")
    files["pixel-bomb-3600mp.png"] = buf.getvalue()
    out = []
    for name, data in files.items():
        path = dest / name
        path.write_bytes(data)
        out.append(path)
    return out


def corpus_files() -> list[Path]:
    root = _corpus() / "hostile"
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("_") and not p.name.endswith(".out")
    )


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Outcome:
    name: str
    size: int
    http: int
    code: str
    final: str = ""
    reason: str = ""


def _code(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:40]
    return str(body.get("code") or body.get("status") or "")


def field_flood(stack: Stack, megabytes: int) -> tuple[int, str, float]:
    """A chunked multipart body of ``megabytes`` MB of small fields (no Content-Length)."""
    boundary = "hostileprobe"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + "x" * 1000 + "\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        block = part * 1024  # about 1 MB
        for _ in range(megabytes):
            yield block
        yield f"--{boundary}--\r\n".encode()

    t = time.perf_counter()
    assert stack.client is not None
    try:
        resp = stack.client.post(
            "/api/v1/scans",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    except httpx.HTTPError as exc:  # the server may close the connection on a refused body
        return 0, type(exc).__name__, time.perf_counter() - t
    return resp.status_code, _code(resp), time.perf_counter() - t


#: What must not survive into a signed document, as it appears in a PDF's objects.
SMUGGLED = (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/OpenAction", b"/AA", b"/XFA")


def _smuggled(stack: Stack, scan: dict[str, object]) -> str:
    """Names of active or hidden content found in the signed document ('' when none)."""
    import pikepdf

    assert stack.client is not None
    doc = stack.client.get(str(scan["document_url"])).json()
    signed = stack.client.get(doc["file_url"]).content
    found: set[str] = set()
    with pikepdf.open(io.BytesIO(signed)) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                keys = {k.encode() for k in obj.keys()}  # noqa: SIM118 - a Stream iterates no keys
                values = {
                    bytes(str(v), "latin-1", "replace")
                    for v in obj.values()
                    if isinstance(v, pikepdf.Name)
                }
                found |= {t.decode() for t in SMUGGLED if t in keys or t in values}
    return "SMUGGLED " + ",".join(sorted(found)) if found else ""


def _kept_bytes(data: Path) -> int:
    """Bytes under the store's originals/ and quarantine/ (where a kept upload would go)."""
    roots = [data / "objects" / "originals", data / "objects" / "quarantine"]
    return sum(p.stat().st_size for r in roots if r.exists() for p in r.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood-mb", type=int, default=600, help="MB of form fields (600)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait in all")
    parser.add_argument("--interval", type=float, default=0.2, help="memory sampling period, s")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sohoa-hostile-"))
    outcomes: list[Outcome] = []
    try:
        made = made_files(work)
        files = corpus_files() + made
        print(
            f"{len(files)} hostile files ({len(made)} made here); embedded default, one worker "
            f"--concurrency {args.concurrency}",
            flush=True,
        )
        with Stack(Backends(None, None), work / "stack") as stack:
            worker = stack.start_worker(concurrency=args.concurrency)
            assert stack.api is not None and stack.client is not None
            api_mem = TreeSampler(stack.api.pid, args.interval)
            worker_mem = TreeSampler(worker.pid, args.interval)
            data = work / "stack" / "data"
            try:
                accepted: dict[str, Outcome] = {}
                for path in files:
                    with path.open("rb") as f:
                        resp = stack.client.post("/api/v1/scans", files={"file": (path.name, f)})
                    o = Outcome(path.name, path.stat().st_size, resp.status_code, _code(resp))
                    outcomes.append(o)
                    if resp.status_code in (200, 202):
                        accepted[resp.json()["id"]] = o
                    print(f"  {o.http} {o.code:28} {path.name}", flush=True)
                junk = work / "junk-20mb.bin"
                before = _kept_bytes(data)
                junk.write_bytes(os.urandom(20 * 2**20))
                for i in range(3):
                    with junk.open("rb") as f:
                        resp = stack.client.post("/api/v1/scans", files={"file": (junk.name, f)})
                    outcomes.append(
                        Outcome(
                            f"junk-20mb.bin (try {i + 1})",
                            junk.stat().st_size,
                            resp.status_code,
                            _code(resp),
                        )
                    )
                kept = _kept_bytes(data) - before
                status, code, seconds = field_flood(stack, args.flood_mb)
                outcomes.append(
                    Outcome(
                        f"{args.flood_mb} MB of form fields, chunked",
                        args.flood_mb * 2**20,
                        status,
                        f"{code} in {seconds:.1f}s",
                    )
                )
                t0 = time.monotonic()
                final = stack.wait(list(accepted), timeout=args.timeout, poll=1.0)
                for scan_id, body in final.items():
                    accepted[scan_id].final = body["status"]
                    accepted[scan_id].reason = body.get("reason_code") or ""
                    if body["status"] == "digitized":
                        accepted[scan_id].reason = _smuggled(stack, body) or "clean"
                print(f"accepted scans finished in {time.monotonic() - t0:.0f}s", flush=True)
                alive = all(p.poll() is None for p in stack.workers) and stack.api.poll() is None
                health = stack.client.get("/readyz").status_code
            finally:
                api_mem.stop()
                worker_mem.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'file':44} {'bytes':>11} {'http':>4}  {'answer / code':30} scan")
    for o in outcomes:
        scan = f"{o.final} {o.reason}".strip()
        print(f"{o.name[:44]:44} {o.size:11,} {o.http:4}  {o.code[:30]:30} {scan}")
    server_errors = [o for o in outcomes if o.http >= 500]
    smuggled = [o for o in outcomes if o.reason.startswith("SMUGGLED")]
    print(
        f"\nuploads: {len(outcomes)}; 5xx answers: {len(server_errors)}; "
        f"accepted: {sum(1 for o in outcomes if o.final)} "
        f"(digitized {sum(1 for o in outcomes if o.final == 'digitized')}, "
        f"failed {sum(1 for o in outcomes if o.final == 'failed')})\n"
        f"digitized documents still holding active or hidden content: {len(smuggled)}\n"
        f"bytes the three junk refusals left in the store: {kept:,}\n"
        f"peak RSS: API tree {api_mem.overall.tree_rss_kb / 1024:.0f} MB, "
        f"worker tree {worker_mem.overall.tree_rss_kb / 1024:.0f} MB "
        f"(largest process {worker_mem.overall.single_kb / 1024:.0f} MB, {worker_mem.overall.single_name})\n"
        f"processes alive at the end: {alive}; /readyz {health}"
    )
    return 1 if server_errors or smuggled or not alive else 0


if __name__ == "__main__":
    run_main(main)
