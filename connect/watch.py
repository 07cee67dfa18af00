"""A network scanner's watch folder: every complete file dropped in a folder becomes a scan, then
moves to ``done/`` or, with a reason beside it, to ``failed/``.

The folder is polled, not watched: a scanner writes to an SMB share (or NFS), and a mounted share
delivers no inotify events for what another machine writes. Polling also decides when a file is
complete, which no event says: a file is taken once its size and modification time are unchanged
across two consecutive polls and it opens for reading. Names a writer uses while it writes
(``*.tmp``, ``*.part``, Office's ``~$…`` and ``.~lock…``), dotfiles, links and anything but a
regular file are left alone, as are the ``done/`` and ``failed/`` folders.

Ingesting is the caller's (:data:`Ingest`): the composition root gives a callable that uploads
through the same path as the API and returns how the scan ended. It is idempotent by content,
through the scans ledger, so the folder keeps no state of its own: after a crash between upload
and move, the file is found again, the ledger answers with the scan it already made, and the
file moves. A callable that raises leaves the file where it is, to be tried again later (a
database or store away, the process stopping).

A file whose scan failed can be tried again by moving it back from ``failed/`` into the folder:
the same bytes find their failed scan, which goes back in line (what a restart that finds a
file not yet moved also does, once). A file refused at the door stays refused.

A file's name never becomes an object key or a path anywhere but in this folder: the upload
keys objects by scan id, and the moves join the name, one path component as listed, to
``done/`` or ``failed/`` only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from connect.errors import ConnectError

log = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"
REASON_SUFFIX = ".reason.txt"
# Written while a writer still holds the file, or the desktop's own: never a scan.
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".filepart", "~")
_TEMP_PREFIXES = (".", "~$")
_SYSTEM_NAMES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
NAME_MAX = 255  # bytes of one path component on the file systems a share is served from
MAX_BACKOFF = 300.0  # seconds between attempts at a file whose ingest keeps failing


class Postponed(ConnectError):
    """Not now: the file stays where it is for a later poll (the process is stopping)."""


class Verdict(StrEnum):
    """Where a file goes: the scan exists (``done``), or the file will never become one."""

    DONE = DONE
    FAILED = FAILED


@dataclass(frozen=True)
class Outcome:
    """How one file ended, as far as the folder cares.

    ``status`` is the scan's status in the ledger (``digitized``, ``failed``,
    ``awaiting_confirmation``) or ``refused`` when the upload was refused at the door;
    ``message`` says it in Vietnamese for the counter, and goes into the reason file.
    """

    verdict: Verdict
    status: str
    scan_id: str | None = None
    reason_code: str | None = None
    message: str = ""
    #: The failure's own words (the pipeline's reason message, the refusal's detail).
    detail: str = ""
    #: The same bytes had been ingested before (a second drop, or a restart): this is that scan.
    duplicate: bool = False
    #: That earlier scan had failed and was tried again for this drop.
    retried: bool = False


Ingest = Callable[[Path], Outcome]
"""Upload one complete file and wait for its scan to end; raise to leave the file for later."""


@dataclass(frozen=True)
class Handled:
    """A file taken from the folder: where it went (None: left in place) and why."""

    name: str
    outcome: Outcome
    moved_to: Path | None
    reason_file: Path | None = None


@dataclass(frozen=True)
class _Seen:
    """What one poll saw of a file; equal across two polls means the writer has finished."""

    size: int
    mtime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Seen:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def ignored(name: str) -> bool:
    """Names a watch folder never takes: dotfiles, writers' temporary names, desktop litter."""
    low = name.lower()
    return (
        not name
        or name in (DONE, FAILED)
        or "/" in name
        or "\x00" in name
        or name.startswith(_TEMP_PREFIXES)
        or low.endswith(_TEMP_SUFFIXES)
        or low.endswith(REASON_SUFFIX)
        or low in _SYSTEM_NAMES
    )


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file, never through a link.

    ``O_NONBLOCK`` keeps a FIFO someone left in the folder from hanging the open; the check
    after opening is on the opened file, so a name swapped for a link meanwhile is refused.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class WatchFolder:
    """Polls ``root`` and hands each complete file to ``ingest``, ``parallel`` at a time.

    One :meth:`poll` lists the folder, takes the files unchanged since the previous poll,
    ingests them and moves them; :meth:`run` polls every ``interval`` seconds until ``stop``
    is set; :meth:`once` polls twice, ``interval`` apart, and returns what it handled.
    """

    def __init__(
        self,
        root: Path,
        ingest: Ingest,
        *,
        interval: float = 2.0,
        parallel: int = 1,
        on_handled: Callable[[Handled], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        if interval <= 0:
            raise ValueError("the polling interval must be positive")
        if parallel < 1:
            raise ValueError("at least one file is ingested at a time")
        self.root = root
        self.ingest = ingest
        self.interval = interval
        self.parallel = parallel
        self.on_handled = on_handled
        self._clock = clock
        self._now = now
        self._seen: dict[str, _Seen] = {}
        # name -> (what was seen when it last failed, failures in a row, not before)
        self._backoff: dict[str, tuple[_Seen, int, float]] = {}

    # -- polling ---------------------------------------------------------------------------

    def poll(self) -> list[Handled]:
        """One pass: note what is in the folder, ingest and move what was already complete."""
        current = dict(self._listing())
        ready = [
            name
            for name, seen in current.items()
            if self._seen.get(name) == seen and self._due(name, seen) and self._opens(name)
        ]
        self._seen = current
        for name in list(self._backoff):
            if name not in current:
                del self._backoff[name]
        return self._handle(ready)

    def once(self, stop: threading.Event | None = None) -> list[Handled]:
        """What is complete now, handled; what is still being written stays for the next run."""
        handled = self.poll()
        if (stop or threading.Event()).wait(self.interval):
            return handled
        return handled + self.poll()

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; a failing poll (the share gone away) is logged and
        tried again at the next tick."""
        while not stop.is_set():
            try:
                self.poll()
            except OSError:
                log.warning("cannot read the watch folder %s", self.root, exc_info=True)
            stop.wait(self.interval)

    def _listing(self) -> Iterator[tuple[str, _Seen]]:
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if ignored(name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:  # gone between the listing and the stat
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield name, _Seen.of(st)

    def _due(self, name: str, seen: _Seen) -> bool:
        held = self._backoff.get(name)
        if held is None:
            return True
        at, _, not_before = held
        return at != seen or self._clock() >= not_before  # a new file by that name goes at once

    def _opens(self, name: str) -> bool:
        """A writer on Windows holds the file locked until it closes it: not ready yet."""
        try:
            with open_regular(self.root / name):
                return True
        except OSError:
            return False

    # -- one file --------------------------------------------------------------------------

    def _handle(self, names: list[str]) -> list[Handled]:
        if not names:
            return []
        handled: list[Handled] = []
        if self.parallel == 1 or len(names) == 1:
            for name in names:
                outcome = self._ingest(name)
                if outcome is not None:
                    handled.append(self._finish(name, outcome))
            return handled
        with ThreadPoolExecutor(min(self.parallel, len(names)), thread_name_prefix="watch") as pool:
            futures: dict[Future[Outcome | None], str] = {
                pool.submit(self._ingest, name): name for name in names
            }
            for future in as_completed(futures):
                outcome = future.result()
                if outcome is not None:
                    handled.append(self._finish(futures[future], outcome))
        return handled

    def _ingest(self, name: str) -> Outcome | None:
        """The ingest's outcome, or None when it raised (the file stays, tried again later)."""
        try:
            return self.ingest(self.root / name)
        except Postponed as exc:
            log.info("%r stays in the watch folder for now: %s", name, exc)
            return None
        except Exception:
            seen = self._seen.get(name)
            _, failures, _ = self._backoff.get(name, (seen, 0, 0.0))
            delay = min(self.interval * 2 ** (failures + 1), MAX_BACKOFF)
            if seen is not None:
                self._backoff[name] = (seen, failures + 1, self._clock() + delay)
            log.warning(
                "could not ingest %r from the watch folder; trying again in %.0f s",
                name,
                delay,
                exc_info=True,
            )
            return None

    def _finish(self, name: str, outcome: Outcome) -> Handled:
        path = self.root / name
        seen = self._seen.pop(name, None)
        self._backoff.pop(name, None)
        try:
            now = _Seen.of(path.stat(follow_symlinks=False))
        except FileNotFoundError:
            now = None
        if now is None or now != seen:
            # Taken away or written again while it was ingested: what was ingested is a scan,
            # what is there now is another file, taken when it is complete in its turn.
            log.warning("%r changed while it was ingested; it stays in the watch folder", name)
            handled = Handled(name, outcome, None)
        else:
            handled = self._move(name, outcome)
        if self.on_handled is not None:
            self.on_handled(handled)
        return handled

    def _move(self, name: str, outcome: Outcome) -> Handled:
        target = self.root / outcome.verdict.value
        target.mkdir(exist_ok=True)
        if target.is_symlink() or not target.is_dir():  # a link would lead out of the folder
            raise NotADirectoryError(errno.ENOTDIR, "not a folder of the watch folder", str(target))
        failed = outcome.verdict is Verdict.FAILED
        moved = _move_new(self.root / name, target, name, beside=REASON_SUFFIX if failed else "")
        reason = None
        if failed:
            reason = moved.with_name(moved.name + REASON_SUFFIX)
            try:
                with reason.open("x", encoding="utf-8") as f:
                    f.write(reason_text(name, outcome, self._now()))
            except OSError:
                log.warning("could not write %s", reason, exc_info=True)
                reason = None
        log.info(
            "%s -> %s/%s (scan %s, %s)",
            name,
            outcome.verdict.value,
            moved.name,
            outcome.scan_id or "-",
            outcome.reason_code or outcome.status,
        )
        return Handled(name, outcome, moved, reason)


def reason_text(name: str, outcome: Outcome, at: datetime) -> str:
    """Why a file is in ``failed/``, for the clerk who opens the folder: Vietnamese, with the
    stable reason code an operator searches for."""
    message = outcome.message or "Tệp này không số hóa được."
    lines = [
        f"Tệp: {printable(name)}",
        "Kết quả: không số hóa được (failed)",
        f"Mã lý do: {outcome.reason_code or outcome.status}",
        f"Lý do: {message}",
        *([f"Chi tiết: {outcome.detail}"] if outcome.detail and outcome.detail != message else []),
        f"Mã lượt quét: {outcome.scan_id or '-'}",
        f"Thời điểm: {at.isoformat(timespec='seconds')}",
    ]
    if outcome.retried:
        lines.append(
            "Ghi chú: tệp cùng nội dung đã không số hóa được trước đây; hệ thống đã thử lại và "
            "vẫn không được. Báo cho người quản trị, kèm mã lượt quét."
        )
    elif outcome.duplicate:
        lines.append("Ghi chú: tệp cùng nội dung đã được đưa vào trước đây; đây là kết quả lần đó.")
    return "\n".join(lines) + "\n"


def printable(name: str) -> str:
    """A name as text, whatever bytes it was made of (an undecodable name is escaped)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _numbered(name: str, n: int, reserve: int) -> str:
    """``name`` for the ``n``-th try: ``scan.pdf``, ``scan (1).pdf``… within ``NAME_MAX`` bytes
    with ``reserve`` bytes left for a suffix beside it."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a name that is all extension
        stem, dot, ext = name, "", ""
    tail = (f" ({n})" if n else "") + dot + ext
    budget = NAME_MAX - reserve - len(os.fsencode(tail))
    while len(os.fsencode(stem)) > budget and stem:
        stem = stem[:-1]
    return stem + tail


def _move_new(source: Path, folder: Path, name: str, *, beside: str = "") -> Path:
    """Move ``source`` into ``folder`` under its own name, or a numbered one: never over a file
    already there (nor over a ``beside`` file, the reason that goes with it)."""
    reserve = len(os.fsencode(beside))
    for n in range(100_000):
        candidate = folder / _numbered(name, n, reserve)
        if beside and os.path.lexists(f"{candidate}{beside}"):
            continue
        try:
            # A hard link fails on an existing name, where a rename would replace it.
            os.link(source, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            # A share that cannot link: look, then rename (one watcher per folder).
            if os.path.lexists(candidate):
                continue
            os.rename(source, candidate)
            return candidate
        with contextlib.suppress(FileNotFoundError):
            os.unlink(source)
        return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(folder / name))
