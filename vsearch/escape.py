"""Outside text (file names, EXIF strings, captions) made safe to show: it is data, never terminal
control, rich markup or Markdown.

  valid_utf8(s)    the bytes of a non-UTF-8 file name as \\xNN: always encodable (JSON, Parquet, UTF-8 output)
  for_terminal(s)  also control characters, bidi overrides and line separators as visible escapes
  for_rich(s)      for_terminal, then rich markup and emoji codes escaped (the CLI prints through rich)
  for_markdown(s)  for Streamlit Markdown (st.markdown, st.caption, st.subheader, …): renders as the
                   literal text, never a link, image, heading, emphasis, emoji, icon or formula

Escapes use Python's spelling (\\x1b, \\n, \\u202e). A backslash already in a name is left as it
is, so `a\\x1b` may be either; the display is for people, who can look the file up with `ls -b`.
"""
from __future__ import annotations

import re

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_WJ = "\u2060"  # WORD JOINER: invisible, neither space nor punctuation


def _escape(cp: int) -> str:
    c = chr(cp)
    if c in _SHORT:
        return _SHORT[c]
    if 0xDC80 <= cp <= 0xDCFF:  # os.fsdecode's surrogateescape: the undecodable byte itself
        return f"\\x{cp - 0xDC00:02x}"
    return f"\\x{cp:02x}" if cp <= 0xFF else f"\\u{cp:04x}"


_SURROGATES = range(0xD800, 0xE000)
# C0, DEL, C1 (0x9B alone is a CSI on many terminals), bidi embeddings/overrides/isolates/marks that
# reorder what is shown (a name can look like "photo.jpg" and be "gpj.otohp"), line and paragraph
# separators.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
             *range(0x2066, 0x206A), 0x2028, 0x2029]
_UTF8 = {cp: _escape(cp) for cp in _SURROGATES}
_TERMINAL = {**_UTF8, **{cp: _escape(cp) for cp in _CONTROLS}}


def valid_utf8(s: str) -> str:
    """`s` with surrogates (a non-UTF-8 file name decoded with surrogateescape) written as \\xNN
    (\\udNNN for any other lone surrogate), so that it encodes as UTF-8."""
    return s if s.isascii() else s.translate(_UTF8)  # ASCII, the common case, holds no surrogate


def for_terminal(s: str) -> str:
    """`s` with nothing a terminal would act on: escape sequences, control characters, bidi
    controls and undecodable bytes all shown as visible escapes."""
    return s.translate(_TERMINAL)


def for_rich(s: str) -> str:
    """for_terminal(s) for a rich console: `[link=…]` or `[/]` in a name is printed as such, and so
    is `:smile:` (a word joiner, U+2060, before each colon keeps rich from finding an emoji code)."""
    from rich.markup import escape

    shown = for_terminal(s)
    if shown.endswith("\\"):  # escape() would double it; a word joiner keeps it from escaping a next tag
        shown += _WJ
    return escape(shown).replace(":", _WJ + ":")


# Every ASCII punctuation character can be backslash-escaped in CommonMark, and none of them then
# means anything: emphasis, links, images, HTML, entities, headings, lists, tables, code, Streamlit's
# :directives[…] and $math$.
_MARKDOWN = {**_TERMINAL, **{ord(c): "\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"}}
# Streamlit then rewrites the parsed text itself: bare URLs (http://, https://, www.) and e-mail
# addresses become links, :shortcodes: become emoji, icons or the Streamlit logo, and a free-standing
# -> <- <-> -- >= <= ~= becomes an arrow or symbol. An invisible WORD JOINER (U+2060) before the
# characters those rewrites need adjacent keeps all of them from matching.
_REWRITTEN = re.compile(r"[:.@]|(?:^|(?<=[\s\ufeff]))[<>~-]")  # JavaScript's \s also holds U+FEFF
_SPACES = re.compile(r"(?:^ | (?= ))")  # leading spaces and runs of spaces, which Markdown would drop


def for_markdown(s: str) -> str:
    """`s` as Markdown that Streamlit renders as exactly that text (controls shown as escapes),
    also between ** ** or in a table cell. Not for code spans (`…`), where escapes show literally."""
    if not s:
        return ""
    s = _REWRITTEN.sub(lambda m: _WJ + m.group(0), for_terminal(s))
    s = _SPACES.sub("\u00a0", s)
    # Word joiners at both ends: neither whitespace nor punctuation, so `**` around the result
    # opens and closes emphasis whatever the name starts or ends with.
    return _WJ + s.translate(_MARKDOWN) + _WJ
