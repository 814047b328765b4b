"""What decoding reads beside the pixels (pipeline/decode.py): the words a file embeds are always
read with its header; with `--ocr` (`Reading.ocr`) the OCR gate looks at the decoded picture and,
when it likely holds text, the OCR engine reads it (vsearch/ocr/reader.py), in the same worker, so
OCR runs as parallel as decoding. Stored content whose words were never read (an older format's,
an import's) or, with `--ocr`, not looked at for text, is read for just that (`Reading.unread` /
`unlooked`): its header, and its picture for the gate, never encoded again."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ImageError
from ..imaging import decode_image_bytes
from ..imaging.decode import read_words
from ..imaging.words import word_fields


@dataclass(frozen=True)
class Reading:
    """What decoding reads beside the pixels (the words are always read)."""
    ocr: bool = False                 # run the OCR gate (and OCR) on each new content
    unread: Any = frozenset()         # stored content ids whose words were never read (anything with `in`)
    unlooked: Any = frozenset()       # ... and, with ocr, those not looked at for text yet

    def again(self, cid: int) -> bool:
        return cid in self.unread or cid in self.unlooked


def picture_text(picture, data: bytes) -> tuple[str, bool]:
    """(the picture's text, whether the gate passed it): "" when the OCR cannot read it (looked
    at, so that the next ingest does not try again)."""
    from ..ocr import text_reader

    try:
        return text_reader().read(picture, lambda side: decode_image_bytes(data, side).image)
    except (ImageError, MemoryError):
        return "", True
    except Exception:  # noqa: BLE001 - an ONNX model failing on one picture must not end the run
        return "", True


def read_again(data: bytes, cid: int, reading: Reading) -> tuple[dict[str, Any], bool]:
    """The fields of stored content read now (its words from the header, its text with the gate's
    picture decoded for it: the bytes decoded before, so a failure now is text not found), and
    whether the OCR gate passed it."""
    meta: dict[str, Any] = {}
    gated = False
    if cid in reading.unread:
        meta.update(word_fields(read_words(data)))
    if cid in reading.unlooked:
        from ..ocr.gate import PAGE_SIDE

        try:
            picture = decode_image_bytes(data, PAGE_SIDE).image
        except (ImageError, MemoryError):
            meta["ocr"] = ""
        else:
            meta["ocr"], gated = picture_text(picture, data)
    return meta, gated


def stored_but_read_again(known, reading: Reading):
    """`known` without the ids `reading` reads again (a view, not a copy of a large set)."""
    return _Stored(known, reading) if reading.unread or reading.unlooked else known


class _Stored:
    """Known ids but those read again."""

    def __init__(self, known, reading: Reading):
        self.known, self.reading = known, reading

    def __contains__(self, cid: int) -> bool:
        return cid in self.known and not self.reading.again(cid)

    def __len__(self) -> int:
        return len(self.known)
