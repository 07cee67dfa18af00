"""Where the fonts of every printed page live, and a clear error when they are not there.

Noto Sans (Debian ``fonts-noto-core``) has a precomposed glyph for every Vietnamese letter and
1000 units per em, which pyHanko's stamp needs; DejaVu and Liberation do not. The directory is
a setting (``SOHOA_FONT_DIR``) so an image or a host that keeps fonts elsewhere still prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import SohoaError

__all__ = ["DEFAULT_FONTS", "DEFAULT_FONT_DIR", "FontMissingError", "Fonts"]

DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/noto")


class FontMissingError(SohoaError):
    """A font file is missing: the operator installs it; retrying cannot help."""

    code = "font_missing"
    http_status = 500
    retryable = False


@dataclass(frozen=True)
class Fonts:
    """The regular and bold Noto Sans files in ``directory``."""

    directory: Path = DEFAULT_FONT_DIR
    regular_name: str = "NotoSans-Regular.ttf"
    bold_name: str = "NotoSans-Bold.ttf"

    @property
    def regular(self) -> Path:
        return Path(self.directory) / self.regular_name

    @property
    def bold(self) -> Path:
        return Path(self.directory) / self.bold_name

    def check(self, *, bold: bool = True) -> None:
        """Raise :class:`FontMissingError` naming the first missing file (and ``bold`` unless
        the caller draws regular text only), before fpdf2 or fontTools fail less clearly."""
        for path in (self.regular, self.bold) if bold else (self.regular,):
            if not path.is_file():
                raise FontMissingError(
                    f"font {path} missing: apt-get install fonts-noto-core "
                    "(or point SOHOA_FONT_DIR at a directory holding Noto Sans)",
                    path=str(path),
                )


DEFAULT_FONTS = Fonts()
