"""The stamp font cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from signing.errors import StampFontMissingError
from signing.stamp import ensure_stamp_font


def test_font_subset_is_cached(stamp_font: Path) -> None:
    before = stamp_font.stat().st_mtime_ns
    assert ensure_stamp_font(stamp_font.parent) == stamp_font
    assert stamp_font.stat().st_mtime_ns == before
    with TTFont(str(stamp_font)) as font:
        assert font["head"].unitsPerEm == 1000
        cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "Bản số hóa từ bản giấy ĐđƯưƠơ Nguyễn Thị Lan ₫")
    assert stamp_font.stat().st_size < 120_000


def test_missing_font_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(StampFontMissingError, match="apt-get install fonts-noto-core"):
        ensure_stamp_font(tmp_path, source=tmp_path / "NotoSans-Regular.ttf")
