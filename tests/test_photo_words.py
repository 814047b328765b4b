"""A photo's own words: XMP (embedded and sidecars), IPTC IIM, folder and file names, bounded."""
import io
import time

import pytest
from PIL import Image, PngImagePlugin

from vsearch.evaluation.metadata_writing import iptc_block, with_iptc, xmp_packet
from vsearch.imaging.names import is_camera_name, name_words, path_words
from vsearch.imaging.words import embedded_words, merge, sidecar_words
from vsearch.imaging.xmp import MAX_ITEMS, XmpWords, parse_xmp


def _opened(fmt: str, **save) -> Image.Image:
    import vsearch.imaging  # noqa: F401 - registers the HEIF opener

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(buf, fmt, **save)
    return Image.open(io.BytesIO(buf.getvalue()))


PACKET = xmp_packet(title="Tram 28", description="A yellow tram <climbs> a hill & turns", keywords=[
    "tram", "Places|Portugal|Lisbon", "yellow"], people=["Ana Silva"], city="Lisbon")


@pytest.mark.parametrize("fmt,save", [
    ("JPEG", {"xmp": PACKET}), ("WEBP", {"xmp": PACKET}), ("TIFF", {"tiffinfo": {700: PACKET}}), ("HEIF", {"xmp": PACKET}),
    ("PNG", {"pnginfo": (lambda i: (i.add_itxt("XML:com.adobe.xmp", PACKET.decode()), i)[1])(PngImagePlugin.PngInfo())}),
])
def test_embedded_xmp_in_every_format_pillow_exposes(fmt, save):
    w = embedded_words(_opened(fmt, **save))
    assert w.title == "Tram 28"
    assert w.description == "A yellow tram <climbs> a hill & turns"  # entities decoded, markup kept as text
    assert w.keywords == ["tram", "Places", "Portugal", "Lisbon", "yellow"]  # hierarchical keywords split
    assert w.people == ["Ana Silva"] and w.places == ["Lisbon"]


def test_iptc_iim_in_a_jpeg():
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "JPEG")
    data = with_iptc(buf.getvalue(), iptc_block("Café at noon", "Two cups on a table", ["coffee", "Café", "cups"]))
    w = embedded_words(Image.open(io.BytesIO(data)))
    assert (w.title, w.description) == ("Café at noon", "Two cups on a table")
    assert w.keywords == ["coffee", "Café", "cups"]


def test_language_alternative_prefers_x_default_and_attributes_count():
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
        photoshop:Headline="Headline as attribute" photoshop:Country="Portugal">
       <dc:description><rdf:Alt><rdf:li xml:lang="pt">Um carro</rdf:li><rdf:li xml:lang="x-default">A car</rdf:li></rdf:Alt></dc:description>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    w = parse_xmp(packet)
    assert (w.title, w.description, w.places) == ("Headline as attribute", "A car", ["Portugal"])


def test_face_region_names_are_people():
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
      <rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/">
       <mwg-rs:Regions><rdf:Description><mwg-rs:RegionList><rdf:Bag>
         <rdf:li><rdf:Description mwg-rs:Name="Joao" mwg-rs:Type="Face"/></rdf:li>
         <rdf:li><rdf:Description><mwg-rs:Name>Maria</mwg-rs:Name></rdf:Description></rdf:li>
       </rdf:Bag></mwg-rs:RegionList></rdf:Description></mwg-rs:Regions>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    assert parse_xmp(packet).people == ["Joao", "Maria"]


def test_entity_expansion_and_external_entities_are_refused():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
              b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&c;</x:xmpmeta>')
    external = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&e;</x:xmpmeta>')
    assert parse_xmp(laughs).is_empty() and parse_xmp(external).is_empty()


def test_garbage_is_metadata_lost_never_an_error():
    for bad in (b"", b"\x00\xff" * 50, b"<unclosed", b"<a>" * 100_000, "<x>\ud800</x>"):
        assert parse_xmp(bad).is_empty()


def test_huge_packets_and_keyword_floods_cost_what_they_hold():
    flood = xmp_packet(keywords=[f"kw{i}" for i in range(1_000_000)])  # ~20 MB: over the size cap, not parsed
    big_ok = xmp_packet(keywords=[f"kw{i}" for i in range(60_000)])     # ~1.3 MB: parsed, list bounded
    t = time.perf_counter()
    assert parse_xmp(flood).is_empty()
    assert parse_xmp(b" " * (50 << 20)).is_empty()
    kept = parse_xmp(big_ok).keywords
    assert len(kept) == MAX_ITEMS and kept[0] == "kw0"
    assert time.perf_counter() - t < 5  # a bound against hangs, not a speed claim
    long_one = parse_xmp(xmp_packet(description="word " * 100_000)).description
    assert long_one is not None and len(long_one) <= 2_000


def test_sidecars_both_spellings_and_sidecar_description_wins(tmp_path):
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(b"x")
    (tmp_path / "IMG_0001.xmp").write_bytes(xmp_packet(description="from photo.xmp", keywords=["a"]))
    (tmp_path / "IMG_0001.jpg.xmp").write_bytes(xmp_packet(keywords=["b", "A"]))
    side = sidecar_words(photo)
    assert side.description == "from photo.xmp" and sorted(k.lower() for k in side.keywords) == ["a", "b"]
    merged = merge(side, XmpWords(description="embedded", keywords=["c"]))
    assert merged.description == "from photo.xmp" and [k.lower() for k in merged.keywords] == ["a", "b", "c"]
    assert sidecar_words(tmp_path / "other.jpg").is_empty()
    (tmp_path / "fifo.xmp").mkdir()  # not a regular file: ignored, never read
    assert sidecar_words(tmp_path / "fifo.jpg").is_empty()


@pytest.mark.parametrize("name", ["IMG_2041.jpg", "DSC_0001.JPG", "DSCN1234.JPG", "PXL_20230115_093012345.jpg",
                                  "PXL_20230115_093012345.PORTRAIT.jpg", "P1010001.JPG", "_MG_1234.CR2",
                                  "IMG_20190612_101010_HDR.jpg", "IMG_1234 (1).jpg", "20190612_101010.jpg",
                                  "2654514044_a70a6e2c21.jpg", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6.jpg"])
def test_camera_style_names_say_nothing(name):
    assert name_words(name) == ""


def test_meaningful_names_are_split_into_words():
    assert name_words("tram_28-at-night.jpg") == "tram 28 at night"
    assert name_words("LisbonTrip2019.heic") == "Lisbon Trip 2019"
    assert name_words("2019-06-12 Lisbon.jpg") == "2019 Lisbon"  # a date keeps its year
    assert name_words("2019-06-12", folder=True) == "2019" and name_words("IMG_20190612_101010.jpg") == ""
    assert name_words("sunset_a70a6e2c21.jpg") == "sunset"        # a hash inside a name goes
    assert path_words("2019 Lisbon/Day 2/IMG_2041.jpg") == ("2019 Lisbon / Day 2", "")
    assert not is_camera_name("2019 Lisbon")


def test_hostile_names_cost_what_they_are():
    t = time.perf_counter()
    for name in ["IMG_" + "1_" * 200 + "x.jpg", "1" * 5000 + "x.jpg", "IMG_1_" + "a1_" * 300, "x" + "-1" * 2000]:
        name_words(name)
        name_words(name, folder=True)
    assert time.perf_counter() - t < 1  # a bound against catastrophic backtracking, not a speed claim: "1" * 300 + "x" never finished before
