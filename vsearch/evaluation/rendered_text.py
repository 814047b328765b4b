"""Text drawn into pictures for the words benchmark: a shop sign on a photo, a document page, a
receipt, a phone screenshot. Pillow's bundled font only, so a bare machine draws the same pixels."""
from __future__ import annotations

import random

from PIL import Image, ImageDraw, ImageFont

SIGN_KINDS = ("BAKERY", "CAFE", "MARKET", "HOTEL", "PHARMACY", "BOOKS", "GARAGE", "FLOWERS", "PIZZA", "BAR")
_INK = ((20, 20, 20), (250, 250, 250))
_BOARDS = ((245, 240, 225), (200, 30, 35), (25, 60, 140), (20, 90, 45), (30, 30, 30), (240, 200, 40))


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, size: int) -> ImageFont.FreeTypeFont:
    while size > 9 and draw.textlength(text, font=_font(size)) > width:
        size -= 1
    return _font(size)


def draw_sign(photo: Image.Image, name: str, rng: random.Random) -> Image.Image:
    """The photo with a shop sign on it: the name large, a kind of shop under it."""
    img = photo.convert("RGB").copy()
    w, h = img.size
    d = ImageDraw.Draw(img)
    kind = rng.choice(SIGN_KINDS)
    board = rng.choice(_BOARDS)
    ink = _INK[0] if sum(board) > 400 else _INK[1]
    sw, sh = int(w * rng.uniform(0.62, 0.8)), int(h * rng.uniform(0.26, 0.32))
    x0, y0 = rng.randint(2, w - sw - 2), rng.choice((rng.randint(2, h // 6), rng.randint(h // 2, h - sh - 2)))
    d.rectangle((x0, y0, x0 + sw, y0 + sh), fill=board, outline=ink, width=2)
    big = _fit(d, name.upper(), sw - 14, int(sh * 0.5))
    small = _fit(d, kind, sw - 14, int(sh * 0.28))
    d.text((x0 + sw / 2, y0 + sh * 0.38), name.upper(), font=big, fill=ink, anchor="mm")
    d.text((x0 + sw / 2, y0 + sh * 0.78), kind, font=small, fill=ink, anchor="mm")
    return img


_WORDS = ("please note the following items were agreed at the meeting and will be reviewed next month "
          "total amount due payment terms thirty days reference order delivery address account balance "
          "thank you for your purchase opening hours monday friday").split()


def _lines(rng: random.Random, n: int, per_line: int = 6) -> list[str]:
    return [" ".join(rng.choice(_WORDS) for _ in range(per_line)) for _ in range(n)]


def draw_document(name: str, kind: str, rng: random.Random, size: tuple[int, int] = (600, 780)) -> Image.Image:
    """A page holding `name` in its heading: kind "document" (a letter), "receipt" or "screenshot"."""
    if kind == "screenshot":
        size = (390, 780)
    img = Image.new("RGB", size, (255, 255, 255) if kind != "receipt" else (250, 248, 240))
    d = ImageDraw.Draw(img)
    w, h = size
    if kind == "screenshot":
        d.rectangle((0, 0, w, 70), fill=(40, 90, 200))
        d.text((20, 35), f"{name} Travel", font=_font(26), fill=(255, 255, 255), anchor="lm")
        y = 100
        for line in _lines(rng, 14, 4):
            d.rounded_rectangle((14, y - 6, w - 14, y + 30), 8, fill=(235, 238, 245))
            d.text((24, y + 12), line, font=_font(17), fill=(30, 30, 30), anchor="lm")
            y += 46
    elif kind == "receipt":
        d.text((w / 2, 40), name.upper(), font=_font(34), fill=(10, 10, 10), anchor="mm")
        d.text((w / 2, 80), "SUPERMARKET", font=_font(20), fill=(10, 10, 10), anchor="mm")
        y = 130
        for _ in range(16):
            item = " ".join(rng.choice(_WORDS) for _ in range(2)).upper()
            d.text((40, y), item, font=_font(20), fill=(10, 10, 10))
            d.text((w - 40, y), f"{rng.randint(1, 40)}.{rng.randint(0, 99):02d}", font=_font(20), fill=(10, 10, 10),
                   anchor="ra")
            y += 34
    else:
        d.text((50, 50), f"{name} Consulting", font=_font(34), fill=(10, 10, 10))
        y = 130
        for line in _lines(rng, 18):
            d.text((50, y), line, font=_font(18), fill=(40, 40, 40))
            y += 32
    return img
