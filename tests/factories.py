"""Rows for ledger tests."""

from __future__ import annotations

from storage.models import Scan, ScanStatus, Step


def make_scan(**overrides: object) -> Scan:
    """A scan as accepted at upload, with any column overridden."""
    values: dict[str, object] = dict(
        filename="a.jpg",
        media_type="image/jpeg",
        size=1,
        sha256="0" * 64,
        original_key="originals/x/original.jpg",
        clerk_id="clerk1",
        pages_done=0,
        attempts=0,
        warnings=[],
        status=ScanStatus.RECEIVED,
        step=Step.OCR,
    )
    values.update(overrides)
    return Scan(**values)  # type: ignore[arg-type]
