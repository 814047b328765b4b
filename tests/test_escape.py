"""Names and EXIF strings are data everywhere: hostile ones reach a terminal, rich or Markdown only
as visible text. Markdown is rendered with markdown-it (CommonMark, as Streamlit's parser is), and
the text it yields is checked against the rewrites Streamlit documents on top (bare links, e-mail
addresses, :shortcodes:, arrows)."""
from __future__ import annotations

import io
import os
import re
import unicodedata
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from rich.console import Console
from rich.text import Text

from vsearch.escape import for_markdown, for_rich, for_terminal, valid_utf8

LATIN1 = os.fsdecode(b"latin1_\xe9.jpg")  # what os.listdir gives for a non-UTF-8 name
HOSTILE = [
    "\x1b[31mred\x1b[0m.jpg", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\.jpg", "\x9b31mcsi.jpg",
    "\x1b]0;new title\x07.jpg", "over\rwrite.jpg", "back\x08\x08space.jpg", "nul\x00.jpg", "del\x7f.jpg",
    "line1\nline2\n# heading.jpg", "tab\there.jpg", "photo\u202egpj.exe", "\u2066isolate\u2069.jpg",
    "line\u2028sep.jpg", LATIN1, os.fsdecode(b"\xff\xfe.jpg"), "lone\ud800surrogate.jpg",
    "![x](https://evil.example/p?q).jpg", "[click](javascript:alert(1)).jpg", "<img src=x onerror=alert(1)>.jpg",
    "&lt;b&gt; &#x3C;script&#x3E;.jpg", "# Heading.jpg", "1. list.jpg", "- item.jpg", "> quote.jpg",
    "| a | b |.jpg", "***bold*** _it_ __init__.jpg", "~~strike~~.jpg", "`code`.jpg", "```fence.jpg",
    "$x^2$.jpg", "$$\\int$$.jpg", ":red[alert] :blue-background[x] :material/home: :smile: :streamlit:.jpg",
    "https://evil.example/x.jpg", "www.evil.example.jpg", "me@evil.example.jpg", "<https://evil.example>.jpg",
    "a -> b <- c <-> d -- e >= f <= g ~= h.jpg", "\ufeff-> bom.jpg", "[^1] [x]: https://evil.example",
    "\\*escaped\\*.jpg", "trailing\\", "    indented code.jpg", "  two  spaces  ", "[link=https://evil.example]x[/link]",
    "[/] [bold]b[/bold].jpg", "emoji 📷 👨\u200d👩\u200d👧.jpg", "日本語の写真.jpg", "Ünïcødé é.jpg",
]
SAFE = ["IMG_0001.JPG", "emoji 📷 👨\u200d👩\u200d👧.jpg", "日本語の写真.jpg", "Ünïcødé é.jpg", "a b-c_d (1).jpg"]
BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def _shown_safely(s: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp") and ord(c) not in BIDI for c in s)


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(h)[:40] for h in HOSTILE])
def test_for_terminal_leaves_nothing_a_terminal_acts_on(name):
    shown = for_terminal(name)
    assert _shown_safely(shown)
    shown.encode("utf-8")  # no surrogate left: printing cannot raise UnicodeEncodeError
    assert len(shown) >= len(name)


def test_for_terminal_spells_escapes_and_undecodable_bytes_visibly():
    assert for_terminal("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert for_terminal("a\nb\tc\rd\x00e\x9bf") == "a\\nb\\tc\\rd\\x00e\\x9bf"
    assert for_terminal("photo\u202egpj.exe") == "photo\\u202egpj.exe"
    assert for_terminal(LATIN1) == "latin1_\\xe9.jpg" == valid_utf8(LATIN1)
    assert for_terminal("lone\ud800") == "lone\\ud800"


@pytest.mark.parametrize("name", SAFE)
def test_ordinary_names_are_unchanged(name):
    assert for_terminal(name) == valid_utf8(name) == name


def test_valid_utf8_only_touches_surrogates():
    assert valid_utf8("a\x1b\nb") == "a\x1b\nb"
    assert valid_utf8(os.fsdecode(b"\xff\xfe.jpg")) == "\\xff\\xfe.jpg"
    for name in HOSTILE:
        valid_utf8(name).encode("utf-8")


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(h)[:40] for h in HOSTILE])
def test_for_rich_prints_the_name_as_is(name):
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=10_000, color_system="truecolor").print(for_rich(name), highlight=False)
    # No markup applied, no hyperlink, no emoji, no escape code: only invisible word joiners added.
    assert buf.getvalue().replace("\u2060", "") == for_terminal(name) + "\n"


@pytest.mark.parametrize("name", ["trailing\\", "[/]", "\\[bold]x", ":smile:", "a\\\\"])
def test_for_rich_inside_markup_leaves_the_tags_around_it_working(name):
    text = Text.from_markup(f"[red]error:[/red] {for_rich(name)}[bold] end[/bold]")
    assert text.plain.replace("\u2060", "") == f"error: {for_terminal(name)} end"
    assert [(text.plain[s.start:s.end].replace("\u2060", ""), str(s.style)) for s in text.spans] == [("error:", "red"), (" end", "bold")]


class _Html(HTMLParser):
    """The tags of rendered HTML, and the text directly inside each kind of tag."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.text: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag):
        self.open.pop()

    def handle_data(self, data):
        if self.open:
            self.text[self.open[-1]] = self.text.get(self.open[-1], "") + data


def _render(markdown: str) -> _Html:
    page = _Html()
    page.feed(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown))
    return page


def _visible(rendered: str) -> str:
    return rendered.replace("\u2060", "").replace("\u00a0", " ")


# The rewrites Streamlit documents for st.markdown text, stated independently of its code.
STREAMLIT_REWRITES = [r"(?i)https?://", r"(?i)www\.", r"[\w.+-]@[\w-]", r":[\w+-]+:",
                      r"(?:^|[\s\ufeff])(?:<->|->|<-|--|>=|<=|~=)(?:[\s\ufeff]|$)"]


@pytest.mark.parametrize("name", HOSTILE + SAFE, ids=[repr(h)[:40] for h in HOSTILE + SAFE])
def test_for_markdown_renders_as_the_literal_text(name):
    md = for_markdown(name)
    for markdown, tags, inside in [(md, ["p"], "p"), (f"**{md}**  \nscore 0.91", ["p", "strong", "br"], "strong"),
                                   (f"| name |\n|---|\n| {md} |", ["table", "thead", "tr", "th", "tbody", "tr", "td"], "td")]:
        page = _render(markdown)
        assert page.tags == tags, markdown
        shown = page.text[inside]
        assert _visible(shown) == for_terminal(name)
        for rewrite in STREAMLIT_REWRITES:
            assert not re.search(rewrite, shown), (rewrite, shown)
    assert not re.search(r"(?<!\\)\$", md)  # Streamlit starts KaTeX on an unescaped $


def test_for_markdown_of_nothing_is_nothing():
    assert for_markdown("") == ""


def test_an_image_link_in_a_name_stays_text():
    page = _render(f"**{for_markdown('![x](https://evil.example/p?q).jpg')}**")
    assert page.tags == ["p", "strong"] and _visible(page.text["strong"]) == "![x](https://evil.example/p?q).jpg"
