"""Writing the words a photographer's tools write (an XMP packet, an IPTC IIM block), to build
benchmark libraries and test files the way Lightroom, Photos or digiKam leave them."""
from __future__ import annotations

import struct
from xml.sax.saxutils import escape

_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"{attrs}>
{body}  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _alt(tag: str, text: str) -> str:
    return f'   <{tag}><rdf:Alt><rdf:li xml:lang="x-default">{escape(text)}</rdf:li></rdf:Alt></{tag}>\n'


def _bag(tag: str, items: list[str]) -> str:
    lis = "".join(f"<rdf:li>{escape(i)}</rdf:li>" for i in items)
    return f"   <{tag}><rdf:Bag>{lis}</rdf:Bag></{tag}>\n"


def xmp_packet(title: str | None = None, description: str | None = None, keywords: list[str] = (),
               people: list[str] = (), city: str | None = None) -> bytes:
    """An XMP packet as Lightroom writes one (dc:title, dc:description, dc:subject,
    Iptc4xmpExt:PersonInImage; the city as an attribute, the way simple properties often are)."""
    body = ((_alt("dc:title", title) if title else "") + (_alt("dc:description", description) if description else "")
            + (_bag("dc:subject", list(keywords)) if keywords else "")
            + (_bag("Iptc4xmpExt:PersonInImage", list(people)) if people else ""))
    attrs = f'\n    photoshop:City="{escape(city, {chr(34): "&quot;"})}"' if city else ""
    return _XMP.format(attrs=attrs, body=body).encode("utf-8")


def iptc_block(title: str | None = None, description: str | None = None, keywords: list[str] = ()) -> bytes:
    """IPTC IIM records (UTF-8 declared): object name 2:05, caption 2:120, keywords 2:25."""
    def record(rec: int, ds: int, value: bytes) -> bytes:
        return struct.pack(">BBBH", 0x1C, rec, ds, len(value)) + value

    out = record(1, 90, b"\x1b%G")
    if title:
        out += record(2, 5, title.encode("utf-8")[:64])
    if description:
        out += record(2, 120, description.encode("utf-8")[:2000])
    for k in keywords:
        out += record(2, 25, k.encode("utf-8")[:64])
    return out


def with_iptc(jpeg: bytes, block: bytes) -> bytes:
    """The JPEG with a Photoshop APP13 segment holding the IPTC block (resource 0x0404) after its SOI."""
    if len(block) % 2:
        block += b"\0"
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\0\0" + struct.pack(">I", len(block)) + block
    payload = b"Photoshop 3.0\0" + resource
    assert jpeg[:2] == b"\xff\xd8" and len(payload) + 2 < 65536
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]
