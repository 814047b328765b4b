"""XMP packets as data: the words a photographer wrote (title, description, keywords, people and
places), from an embedded packet or a `.xmp` sidecar. Any reader that holds an XMP packet (JPEG,
PNG, TIFF, HEIC, WebP here; RAW files elsewhere) calls `parse_xmp(packet)`.

The packet comes from the file, so it is untrusted: it is parsed by defusedxml (no DTD, no entity
expansion, no external references), only when it is at most MAX_PACKET bytes (real packets are a
few KB; Lightroom's with a long develop history a few hundred), and what is kept is bounded
(MAX_ITEMS values per field, MAX_CHARS characters per value, words.py bounds the sum). A packet
that is malformed or too large is metadata lost, never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .errors import clean_text

MAX_PACKET = 2 << 20   # bytes of XMP parsed; larger packets are skipped
MAX_ITEMS = 256        # values kept per list field (keywords, people, places)
MAX_CHARS = 2_000      # characters kept per value (a description is rarely over 500)

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "iptc": "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/",
    "iptcext": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "mp": "http://ns.microsoft.com/photo/1.2/t/RegionInfo#",
    "mpri": "http://ns.microsoft.com/photo/1.2/t/Region#",
    "digikam": "http://www.digikam.org/ns/1.0/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
}


def _q(prefix: str, name: str) -> str:
    return "{" + _NS[prefix] + "}" + name


# Which properties feed which field; each is a simple value, a language alternative or an array.
TITLE = (_q("dc", "title"), _q("photoshop", "Headline"))
DESCRIPTION = (_q("dc", "description"), _q("iptc", "ExtDescrAccessibility"), _q("iptcext", "AltTextAccessibility"))
KEYWORDS = (_q("dc", "subject"), _q("lr", "hierarchicalSubject"), _q("digikam", "TagsList"))
PEOPLE = (_q("iptcext", "PersonInImage"),)
PLACES = (_q("iptc", "Location"), _q("photoshop", "City"), _q("photoshop", "State"), _q("photoshop", "Country"),
          _q("iptc", "CountryName"), _q("iptcext", "LocationShown"), _q("iptcext", "LocationCreated"),
          _q("iptcext", "City"), _q("iptcext", "ProvinceState"), _q("iptcext", "CountryName"),
          _q("iptcext", "Sublocation"))
# Face regions: MWG (Lightroom, digiKam, Picasa) names inside mwg-rs:Regions; Microsoft's people tags.
_REGION_NAMES = (_q("mwg-rs", "Name"), _q("mpri", "PersonDisplayName"))
_REGION_ROOTS = (_q("mwg-rs", "Regions"), _q("mp", "RegionInfo"))


@dataclass
class XmpWords:
    title: str | None = None
    description: str | None = None
    keywords: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.title or self.description or self.keywords or self.people or self.places)


def _texts(node) -> list[str]:
    """The values of one property element: rdf:Alt (x-default first), rdf:Bag / rdf:Seq, or plain
    text; structured values (an rdf:Description in a Bag) give the text of their leaves."""
    out: list[str] = []
    for container in node:
        if container.tag in (_RDF + "Alt", _RDF + "Bag", _RDF + "Seq"):
            items = list(container)
            if container.tag == _RDF + "Alt":  # the default language first, then the others
                items.sort(key=lambda li: li.get("{http://www.w3.org/XML/1998/namespace}lang") != "x-default")
                items = items[:1]
            for li in items[:MAX_ITEMS]:
                out.extend(_leaf_texts(li))
        else:
            out.extend(_leaf_texts(container))
    if not out and node.text and node.text.strip():
        out.append(node.text)
    return out


def _leaf_texts(node) -> list[str]:
    """Text of an element and (for a structure) of its descendants and attributes, in document order."""
    out: list[str] = []
    for el in node.iter():
        if el.text and el.text.strip():
            out.append(el.text)
        out.extend(v for k, v in el.attrib.items() if not k.startswith(_RDF) and k.startswith("{") and v.strip())
        if len(out) >= MAX_ITEMS:
            break
    return out


def _clean_list(values: list[str], split_paths: bool = False) -> list[str]:
    """Cleaned, de-duplicated (case-insensitively, first spelling kept), at most MAX_ITEMS."""
    kept: dict[str, str] = {}
    for v in values[:MAX_ITEMS * 4]:
        # Lightroom's hierarchical keywords ("Places|Portugal|Lisbon") and digiKam's ("Places/Lisbon")
        for part in (v.replace("/", "|").split("|") if split_paths else [v]):
            text = clean_text(part, MAX_CHARS)
            if text:
                kept.setdefault(text.casefold(), text)
        if len(kept) >= MAX_ITEMS:
            break
    return list(kept.values())[:MAX_ITEMS]


def parse_xmp(packet: bytes | str | None) -> XmpWords:
    """The words of an XMP packet (an `<x:xmpmeta>` document, or a bare `<rdf:RDF>`); empty when the
    packet is absent, too large or not well-formed XML. Never raises."""
    if not packet:
        return XmpWords()
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    if len(packet) > MAX_PACKET:
        return XmpWords()
    start = packet.find(b"<")
    try:
        root = SafeET.fromstring(packet[start:] if start > 0 else packet, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError, RecursionError):
        return XmpWords()
    found: dict[str, list[str]] = {}
    wanted = {**{t: "title" for t in TITLE}, **{t: "description" for t in DESCRIPTION},
              **{t: "keywords" for t in KEYWORDS}, **{t: "people" for t in PEOPLE}, **{t: "places" for t in PLACES}}
    regions: list[str] = []
    for desc in root.iter(_RDF + "Description"):
        for name, value in desc.attrib.items():  # simple properties may be written as attributes
            if name in wanted and value.strip():
                found.setdefault(wanted[name], []).append(value)
        for child in desc:
            if child.tag in wanted:
                found.setdefault(wanted[child.tag], []).extend(_texts(child))
            elif child.tag in _REGION_ROOTS:
                regions.extend(_region_names(child))
    first = lambda key: (_clean_list(found.get(key, []))[:1] or [None])[0]  # noqa: E731
    return XmpWords(title=first("title"), description=first("description"),
                    keywords=_clean_list(found.get("keywords", []), split_paths=True),
                    people=_clean_list(found.get("people", []) + regions), places=_clean_list(found.get("places", [])))


def _region_names(node) -> list[str]:
    out: list[str] = []
    for el in node.iter():
        if el.tag in _REGION_NAMES and el.text and el.text.strip():
            out.append(el.text)
        out.extend(v for k, v in el.attrib.items() if k in _REGION_NAMES and v.strip())
        if len(out) >= MAX_ITEMS:
            break
    return out
