"""The stamp font cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from paper.fonts import DEFAULT_FONTS, FontMissingError, Fonts
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


def test_missing_font_directory_says_how_to_install(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(FontMissingError, match="apt-get install fonts-noto-core") as err:
        ensure_stamp_font(cache, Fonts(tmp_path / "no-such-dir"))
    assert err.value.code == "font_missing"
    assert not cache.exists()


def test_stamp_needs_only_the_regular_font(tmp_path: Path) -> None:
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / DEFAULT_FONTS.regular.name).symlink_to(DEFAULT_FONTS.regular)
    subset = ensure_stamp_font(tmp_path / "cache", Fonts(fonts))
    with TTFont(str(subset)) as font:
        assert font["head"].unitsPerEm == 1000
