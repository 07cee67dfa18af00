"""Page orientation and skew from projection profiles, in Pillow, in tens of milliseconds.

OCRmyPDF's ``--rotate-pages`` runs Tesseract's OSD (1–2 s per page) and ``--deskew`` runs
``tesseract --psm 2`` (about 1 s) and then rebuilds the page from a re-encoded image. Text
lines give both answers more cheaply:

- *Line direction*: the ink profile across rows of horizontal text alternates sharply between
  lines and gaps; across columns it is flat. Whichever axis is sharper runs across the lines.
- *Skew*: the row profile is sharpest when the lines are exactly horizontal; a coarse search at
  ~50 dpi and a fine one at ~100 dpi find the angle to 0.05°.
- *Upside down*: Latin script, and Vietnamese even more with its stacked diacritics, has far more
  ink above the x-height band (capitals, ascenders, accents) than below it (descenders, the dot
  below). Each line's profile is lopsided, and turning the page over flips the sign.

When the evidence is weak (few lines, tables, photos) :attr:`Geometry.certain` is False and the
caller asks Tesseract's OSD instead. Everything here is pure computation on a PIL image.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from PIL import Image

#: Skew below this many degrees is left alone: Tesseract copes, and rotating costs a resample.
SKEW_THRESHOLD = 0.3
#: Largest skew searched for; scanners and phone apps stay well inside it.
MAX_SKEW = 10.0

_COARSE_DPI = 50
_FINE_DPI = 100
_FINE_PIXELS = 800  # at least this many pixels across the short side for the fine search
_COARSE_PIXELS = 400  # and this many for the coarse one
_MIN_INK, _MAX_INK = 0.002, 0.35  # fraction of dark pixels for a page that may hold text
_LINE_RATIO = 1.6  # sharper axis must beat the other by this much to call the line direction
_UPDOWN_MIN = 0.12  # |lopsidedness| below this is not trusted
_MIN_LINES = 3
_MIN_ELONGATION = 3.0  # a text line is at least this many times longer than it is tall


@dataclass(frozen=True)
class Geometry:
    """What it takes to make a page upright and level.

    ``turn`` is the counter-clockwise quarter turn (0, 90, 180, 270) that makes the page
    upright; ``skew`` the further counter-clockwise rotation in degrees that levels its lines.
    ``certain`` covers both; with only ``axis_certain`` the skew holds but up may be down.
    """

    turn: int = 0
    skew: float = 0.0
    certain: bool = False
    axis_certain: bool = False  # the direction of the lines (so the skew) is known
    blank: bool = False  # no ink to speak of, or too much (a photo): nothing to decide
    lines: int = 0
    updown: float = 0.0
    line_ratio: float = 0.0

    @property
    def rotate_cw(self) -> int:
        """The same turn as a clockwise /Rotate increment."""
        return (360 - self.turn) % 360


def _otsu(hist: list[int]) -> int:
    total = sum(hist)
    sum_all = sum(i * h for i, h in enumerate(hist))
    w_b = s_b = 0
    best, threshold = -1.0, 127
    for t, h in enumerate(hist):
        w_b += h
        if not w_b:
            continue
        w_f = total - w_b
        if not w_f:
            break
        s_b += t * h
        m_b, m_f = s_b / w_b, (sum_all - s_b) / w_f
        between = w_b * w_f * (m_b - m_f) ** 2
        if between > best:
            best, threshold = between, t
    return threshold


def _downscale(image: Image.Image, dpi: float, target_dpi: float) -> tuple[Image.Image, float]:
    """Grey-scale and box-filter down to about ``target_dpi`` (never up)."""
    im = image.convert("L") if image.mode != "L" else image
    if dpi >= 2 * target_dpi:
        k = int(dpi / target_dpi)
        im, dpi = im.reduce(k), dpi / k
    if dpi > 1.15 * target_dpi:
        f = dpi / target_dpi
        size = (max(1, round(im.width / f)), max(1, round(im.height / f)))
        im, dpi = im.resize(size, Image.Resampling.BOX), target_dpi
    return im, dpi


def _binarize(gray: Image.Image, threshold: int) -> Image.Image:
    """Ink 255, paper 0, so that box-filter means measure ink."""
    return gray.point([255 if v <= threshold else 0 for v in range(256)])


def _profile(ink: Image.Image) -> list[int]:
    """Mean ink per row, computed by Pillow's box filter rather than a Python loop."""
    return list(ink.resize((1, ink.height), Image.Resampling.BOX).tobytes())


def _sharpness(profile: list[int]) -> float:
    total = sum(profile)
    if not total:
        return 0.0
    return sum((a - b) ** 2 for a, b in itertools.pairwise(profile)) * len(profile) / total**2


def _score(ink: Image.Image, angle: float) -> float:
    if angle:
        ink = ink.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0)
    return _sharpness(_profile(ink))


def _search(ink: Image.Image, centre: float, half_width: float, step: float) -> tuple[float, float]:
    """Best-scoring angle on a grid; multi-column pages whose lines do not align across columns
    score low in both directions and end up uncertain, which is what we want."""
    n = round(half_width / step)
    angles = [centre + i * step for i in range(-n, n + 1)]
    scored = [(_score(ink, a), a) for a in angles]
    best_score, best_angle = max(scored)
    return best_angle, best_score


def _lines(ink: Image.Image) -> list[tuple[int, int]]:
    """Row bands of ink that are elongated like text lines (a letter or a word-column is not)."""
    profile = _profile(ink)
    floor = max(profile, default=0) * 0.04
    found, y, n = [], 0, len(profile)
    while y < n:
        if profile[y] <= floor:
            y += 1
            continue
        start = y
        while y < n and profile[y] > floor:
            y += 1
        if y - start < 2:
            continue
        box = ink.crop((0, start, ink.width, y)).getbbox()
        if box and (box[2] - box[0]) >= _MIN_ELONGATION * (y - start):
            found.append((start, y))
    return found


def _updown(ink: Image.Image, lines: list[tuple[int, int]]) -> float:
    """Ink above minus ink below the x-height band of each line, over their sum."""
    profile = _profile(ink)
    above = below = 0
    for start, stop in lines:
        band = profile[start:stop]
        core = [i for i, v in enumerate(band) if v >= max(band) / 2]
        above += sum(band[: core[0]])
        below += sum(band[core[-1] + 1 :])
    return (above - below) / (above + below) if above + below else 0.0


def _level(ink: Image.Image, angle: float) -> Image.Image:
    return ink.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0) if angle else ink


def detect(image: Image.Image, dpi: float) -> Geometry:
    """Estimate the turn and skew of a page image seen as it is displayed."""
    if dpi <= 0 or not math.isfinite(dpi):
        dpi = 300.0
    # Small pages get more pixels: skew precision depends on the length of the lines in pixels.
    short_side_in = min(image.size) / dpi
    fine_dpi = min(2 * _FINE_DPI, max(_FINE_DPI, _FINE_PIXELS / short_side_in))
    gray, gray_dpi = _downscale(image, dpi, fine_dpi)
    threshold = _otsu(gray.histogram())
    fine = _binarize(gray, threshold)
    ink_fraction = _profile_mean(fine) / 255
    if not _MIN_INK <= ink_fraction <= _MAX_INK:
        return Geometry(blank=True)  # blank, or a photo / solid area: no lines to read
    coarse_dpi = max(_COARSE_DPI, _COARSE_PIXELS / short_side_in)
    k = max(1, round(gray_dpi / coarse_dpi))
    coarse = _binarize(gray.reduce(k), threshold) if k > 1 else fine
    turned = coarse.transpose(Image.Transpose.ROTATE_90)
    h_angle, h_score = _search(coarse, 0.0, MAX_SKEW, 1.0)
    v_angle, v_score = _search(turned, 0.0, MAX_SKEW, 1.0)
    vertical = v_score > h_score
    ratio = max(h_score, v_score) / max(min(h_score, v_score), 1e-9)
    if vertical:
        fine = fine.transpose(Image.Transpose.ROTATE_90)
    angle, _ = _search(fine, v_angle if vertical else h_angle, 0.75, 0.25)
    angle, _ = _search(fine, angle, 0.2, 0.05)
    levelled = _level(fine, angle)
    lines = _lines(levelled)
    updown = _updown(levelled, lines)
    # Sharp profiles alone can mislead: the letters of a lone word, or the character columns of
    # a typewritten page, make sharp bands too. Real lines are also long: demand one.
    axis_certain = ratio >= _LINE_RATIO and bool(lines)
    return Geometry(
        turn=(90 if vertical else 0) + (180 if updown < 0 else 0),
        skew=round(angle, 2),
        certain=axis_certain and abs(updown) >= _UPDOWN_MIN and len(lines) >= _MIN_LINES,
        axis_certain=axis_certain,
        lines=len(lines),
        updown=round(updown, 3),
        line_ratio=round(ratio, 2),
    )


def _profile_mean(ink: Image.Image) -> float:
    return sum(_profile(ink)) / max(ink.height, 1)
