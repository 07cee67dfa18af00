"""What one upload may cost: read by the upload's checks (:mod:`ingest.validate`) and by the
PDF budgets (:mod:`ingest.budget`), which explains the PDF ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pages: int
    max_page_pixels: int
    max_total_pixels: int
    max_page_area_in2: float = 1_300.0
    max_document_pixels: int = 5_000_000_000
    max_stream_bytes: int = 256 * 2**20
    max_inflated_bytes: int = 4 * 2**30
    max_inflation_ratio: float = 100.0
