"""Render Vietnamese test pages with Pillow, so OCR tests have exact ground truth.

Shared by tests/ocr and bench/ocr_engine.py. Nothing here runs Tesseract.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import img2pdf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
SERIF = FONT_DIR / "NotoSerif-Regular.ttf"
SERIF_BOLD = FONT_DIR / "NotoSerif-Bold.ttf"
SANS = FONT_DIR / "NotoSans-Regular.ttf"

A4 = (8.27, 11.69)
A5 = (5.83, 8.27)
A6 = (4.13, 5.83)

# Paragraphs of the kind a one-stop counter scans: decisions, notices, birth registrations.
PARAGRAPHS: tuple[str, ...] = (
    "ỦY BAN NHÂN DÂN TỈNH BẮC NINH",
    "Số: 123/QĐ-UBND",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Bắc Ninh, ngày 12 tháng 3 năm 2019",
    "QUYẾT ĐỊNH",
    "Về việc phê duyệt danh mục thủ tục hành chính được tiếp nhận tại Bộ phận Một cửa",
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015; căn cứ Nghị định "
    "số 61/2018/NĐ-CP ngày 23 tháng 4 năm 2018 của Chính phủ về thực hiện cơ chế một cửa, "
    "một cửa liên thông trong giải quyết thủ tục hành chính;",
    "Căn cứ Thông tư số 01/2018/TT-VPCP ngày 23 tháng 11 năm 2018 của Văn phòng Chính phủ "
    "hướng dẫn thi hành một số quy định của Nghị định số 61/2018/NĐ-CP;",
    "Xét đề nghị của Chánh Văn phòng Ủy ban nhân dân tỉnh tại Tờ trình số 45/TTr-VP ngày "
    "05/03/2019, Chủ tịch Ủy ban nhân dân tỉnh quyết định:",
    "Điều 1. Phê duyệt kèm theo Quyết định này danh mục thủ tục hành chính được tiếp nhận "
    "và trả kết quả tại Bộ phận Một cửa cấp huyện và cấp xã trên địa bàn tỉnh.",
    "Điều 2. Công dân nộp hồ sơ trực tiếp, qua dịch vụ bưu chính công ích hoặc trực tuyến. "
    "Cán bộ tiếp nhận kiểm tra thành phần hồ sơ, số hóa giấy tờ và ký số trước khi chuyển "
    "cơ quan có thẩm quyền giải quyết.",
    "Điều 3. Quyết định này có hiệu lực kể từ ngày ký. Chánh Văn phòng, Giám đốc các Sở, "
    "Thủ trưởng các ban, ngành, Chủ tịch Ủy ban nhân dân các huyện, thị xã, thành phố chịu "
    "trách nhiệm thi hành Quyết định này./.",
    "Nơi nhận: Như Điều 3; Lưu: VT, KSTT.",
    "GIẤY KHAI SINH",
    "Họ, chữ đệm, tên: NGUYỄN THỊ HƯƠNG GIANG. Ngày, tháng, năm sinh: 21/08/2016, ghi bằng "
    "chữ: ngày hai mươi mốt, tháng tám, năm hai nghìn không trăm mười sáu.",
    "Giới tính: Nữ. Dân tộc: Kinh. Quốc tịch: Việt Nam. Nơi sinh: Bệnh viện Sản Nhi tỉnh "
    "Bắc Ninh. Quê quán: xã Phù Chẩn, thị xã Từ Sơn, tỉnh Bắc Ninh.",
    "Số định danh cá nhân: 027316004589. Họ, chữ đệm, tên người mẹ: Trần Thị Thu Hà, năm "
    "sinh 1990, số CCCD 027190001234, nơi cư trú: thôn Đồng Kỵ, phường Đồng Kỵ.",
    "THÔNG BÁO",
    "Về việc tiếp nhận hồ sơ qua bưu điện: kể từ ngày 01 tháng 7 năm 2025, người dân có thể "
    "gửi hồ sơ thủ tục hành chính qua dịch vụ bưu chính công ích; phí dịch vụ do người "
    "yêu cầu chi trả theo biểu giá của Tổng công ty Bưu điện Việt Nam.",
    "Mọi thắc mắc xin liên hệ số điện thoại 0222 3821 456 hoặc thư điện tử "
    "motcua@bacninh.gov.vn trong giờ hành chính từ thứ Hai đến thứ Sáu.",
    "Những người được hưởng chế độ ưu đãi, gồm thương binh, bệnh binh và thân nhân liệt sĩ, "
    "được miễn lệ phí khi làm thủ tục cấp đổi giấy tờ; hồ sơ gồm tờ khai, bản sao giấy chứng "
    "nhận và ảnh chân dung cỡ 4x6 cm chụp không quá sáu tháng.",
)


@dataclass(frozen=True)
class Page:
    """A rendered page and the exact text drawn on it, one wrapped line per entry."""

    image: Image.Image
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    words, out, cur = text.split(), [], ""
    for word in words:
        trial = f"{cur} {word}".strip()
        if font.getlength(trial) <= width or not cur:
            cur = trial
        else:
            out.append(cur)
            cur = word
    if cur:
        out.append(cur)
    return out


def render_page(
    paragraphs: Sequence[str] = PARAGRAPHS,
    *,
    size_in: tuple[float, float] = A4,
    dpi: int = 300,
    font_path: Path = SERIF,
    font_pt: float = 12,
    margin_in: float = 0.8,
    skew_deg: float = 0.0,
    turn: int = 0,
    degrade: bool = False,
    harshness: float = 1.0,
    seed: int = 0,
) -> Page:
    """Draw paragraphs until the page is full; optionally skew, turn and degrade like a scan.

    ``skew_deg`` is counter-clockwise; ``turn`` is a multiple of 90 (counter-clockwise),
    applied last, as a sheet fed sideways would be.
    """
    w, h = round(size_in[0] * dpi), round(size_in[1] * dpi)
    im = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(im)
    font = ImageFont.truetype(str(font_path), round(font_pt * dpi / 72))
    margin = round(margin_in * dpi)
    line_h = round(font_pt * 1.6 * dpi / 72)
    y, lines = margin, []
    for para in paragraphs:
        for line in _wrap(para, font, w - 2 * margin):
            if y + line_h > h - margin:
                break
            draw.text((margin, y), line, font=font, fill=0)
            lines.append(line)
            y += line_h
        else:
            y += line_h // 3
            continue
        break
    if skew_deg:
        im = im.rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255)
    if degrade:
        im = _degrade(im, seed, harshness)
    if turn % 360:
        im = im.rotate(turn % 360, expand=True)
    im.info["dpi"] = (dpi, dpi)
    return Page(im, tuple(lines))


def _degrade(im: Image.Image, seed: int, harshness: float = 1.0) -> Image.Image:
    """Blur, grey paper, Gaussian noise and a q70 JPEG round trip: a cheap office scanner."""
    rnd = random.Random(seed)
    im = im.filter(ImageFilter.GaussianBlur(1.1 * harshness))
    low = round(40 * harshness)
    im = im.point(lambda v: low + v * (230 - low) // 255)
    noise = Image.effect_noise(im.size, (28 + rnd.random() * 4) * harshness)
    im = Image.blend(im, noise, min(0.5, 0.18 * harshness))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=70)
    buf.seek(0)
    return Image.open(buf).convert("L")


def save_pdf(pages: Sequence[Image.Image], path: Path, *, jpeg: int | None = 85) -> Path:
    """One image per page, like a scanner's PDF; JPEG unless ``jpeg`` is None (then PNG/Flate)."""
    blobs = []
    for im in pages:
        buf = io.BytesIO()
        dpi = im.info.get("dpi", (300, 300))
        if jpeg is None:
            im.save(buf, "PNG", dpi=dpi)
        else:
            im.save(buf, "JPEG", quality=jpeg, dpi=dpi)
        blobs.append(buf.getvalue())
    path.write_bytes(img2pdf.convert(blobs))
    return path
