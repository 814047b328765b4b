"""The words benchmark: Flickr8k photos written out as a photographer's library.

- Photos sit in date folders under camera names (IMG_0001.jpg …): their names say nothing.
- Half of them are captioned, the way a catalogue writes it: one caption as the description and
  the content words of another as keywords, in an embedded XMP packet (60 %), an IPTC block
  (20 %) or a `.xmp` sidecar (20 %, `IMG_0001.xmp` and `IMG_0001.jpg.xmp` alternately).
- About one photo in ten (`sign_share`) has a shop sign drawn on it with a unique name; a few
  rendered documents, receipts and screenshots hold a unique name in their heading.
- Queries: for every photo, a third caption (never the embedded or keyword one), marked
  captioned or not; for every sign and document, its unique name.

`build_library` writes it and `queries.json`; `benchmarks/words.py` and the tests share it.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

from ..errors import VsearchError
from .metadata_writing import iptc_block, with_iptc, xmp_packet
from .rendered_text import draw_document, draw_sign

# Place names used as the unique words of signs and documents (those a caption uses are left out).
NAMES = """Aveiro Braga Coimbra Evora Faro Guarda Leiria Nazare Obidos Porto Sintra Tavira Viseu Alcala Bilbao
Cadiz Cuenca Girona Huesca Jaen Lleida Malaga Murcia Oviedo Ronda Segovia Soria Teruel Toledo Zamora Arles
Amiens Angers Annecy Brest Calais Dijon Lille Limoges Lorient Lyon Metz Nancy Nantes Nimes Reims Rennes Rouen
Toulon Troyes Vannes Aachen Bamberg Bremen Coburg Dessau Erfurt Essen Fulda Gotha Hagen Halle Jena Kassel Kiel
Lindau Mainz Passau Rostock Trier Ulm Weimar Worms Arezzo Bari Bergamo Bologna Cagliari Como Cremona Ferrara
Genoa Lecce Lucca Mantua Matera Modena Padua Parma Pavia Perugia Pisa Ragusa Ravenna Siena Trento Udine Urbino
Verona Vicenza Arnhem Breda Delft Gouda Haarlem Leiden Utrecht Zwolle Bruges Ghent Leuven Namur Ypres Aarhus
Odense Roskilde Bergen Bodo Tromso Alesund Uppsala Lund Malmo Visby Umea Turku Oulu Tampere Vaasa Krakow Gdansk
Torun Poznan Lublin Opole Brno Olomouc Plzen Tabor Kosice Trnava Graz Linz Salzburg Villach Bregenz Basel Bern
Chur Lugano Sion Zug Ljubljana Piran Koper Split Zadar Pula Rijeka Mostar Kotor Budva Sibiu Brasov Cluj Iasi
Varna Ruse Plovdiv Patras Volos Chania Kavala Izmir Bursa Konya Tartu Narva Riga Cesis Kaunas Vilnius Siauliai""".split()
DOCUMENT_KINDS = ("document", "receipt", "screenshot")
_WORD = re.compile(r"[a-z]+")
STOPWORDS = frozenset("""a an the and or of in on at to for with from by is are was were be been being it its this that these
those there their they them he she his her him as into onto over under up down out off near next through while
some two three four one other another his has have having who whom which what where when very just not no yes
each all both several many few more most while""".split())


@dataclass
class LibraryPhoto:
    relpath: str
    source: str                 # the Flickr8k file name
    captioned: bool
    carrier: str | None         # xmp, iptc, sidecar, sidecar-ext, or None
    description: str | None
    keywords: list[str]
    query: str                  # a caption neither embedded nor used for keywords
    sign: str | None = None     # the unique name on its sign, if it has one


@dataclass
class Library:
    root: Path                  # the folder to ingest
    photos: list[LibraryPhoto]
    documents: list[dict] = field(default_factory=list)   # relpath, kind, name

    def caption_queries(self, captioned: bool | None = None) -> list[tuple[str, str]]:
        return [(p.query, p.relpath) for p in self.photos if captioned is None or p.captioned == captioned]

    def word_queries(self) -> list[tuple[str, str, str]]:
        """(query, target relpath, kind) for every sign and document."""
        return ([(p.sign, p.relpath, "sign") for p in self.photos if p.sign]
                + [(d["name"], d["relpath"], d["kind"]) for d in self.documents])

    def save(self) -> None:
        data = {"photos": [asdict(p) for p in self.photos], "documents": self.documents}
        (self.root.parent / "queries.json").write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, folder: Path) -> "Library":
        data = json.loads((Path(folder) / "queries.json").read_text())
        return cls(Path(folder) / "library", [LibraryPhoto(**p) for p in data["photos"]], data["documents"])


def content_words(caption: str) -> list[str]:
    seen: dict[str, None] = {}
    for w in _WORD.findall(caption.lower()):
        if len(w) > 2 and w not in STOPWORDS:
            seen.setdefault(w)
    return list(seen)


def _captions(flickr: Path, split: str) -> tuple[list[str], dict[str, list[str]]]:
    names = [n.strip() for n in (flickr / "splits" / f"{split}.txt").read_text().splitlines() if n.strip()]
    by_image: dict[str, list[str]] = {}
    with open(flickr / "captions.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_image.setdefault(r["image"], []).append(r["caption"].strip())
    return [n for n in names if len(by_image.get(n, [])) >= 3], by_image


def build_library(flickr: str | Path, out: str | Path, split: str = "dev", limit: int | None = None,
                  sign_share: float = 0.1, documents: int = 12, seed: int = 0) -> Library:
    """Write the library under `out`/library (and `out`/queries.json); returns what it holds."""
    flickr, out = Path(flickr), Path(out)
    if not (flickr / "images").is_dir():
        raise VsearchError(f"{flickr} is not the Flickr8k folder (no images/)")
    names, by_image = _captions(flickr, split)
    rng = random.Random(seed)
    rng.shuffle(names)
    names = names[:limit] if limit else names
    vocabulary = {w for caps in by_image.values() for c in caps for w in _WORD.findall(c.lower())}
    unique = [n for n in NAMES if n.lower() not in vocabulary]
    rng.shuffle(unique)
    n_signs = round(len(names) * sign_share)
    if n_signs + documents > len(unique):
        raise VsearchError(f"not enough unique names for {n_signs} signs and {documents} documents")
    signed = set(rng.sample(range(len(names)), n_signs))
    root = out / "library"
    photos: list[LibraryPhoto] = []
    for i, name in enumerate(names):
        caps = by_image[name]
        captioned = i < len(names) // 2
        folder = f"2019-{1 + i % 12:02d}-{1 + (i * 7) % 28:02d}"
        relpath = f"{folder}/IMG_{i + 1:04d}.jpg"
        carrier = None
        if captioned:
            carrier = ("xmp", "xmp", "xmp", "iptc", "sidecar", "xmp", "iptc", "xmp", "sidecar-ext", "xmp")[i % 10]
        photo = LibraryPhoto(relpath, name, captioned, carrier, caps[0] if captioned else None,
                             content_words(caps[1]) if captioned else [], caps[2],
                             unique.pop() if i in signed else None)
        _write_photo(flickr / "images" / name, root / relpath, photo, rng, taken=f"2019:{folder[5:7]}:{folder[8:10]} 12:00:00")
        photos.append(photo)
    docs = []
    for j in range(documents):
        kind = DOCUMENT_KINDS[j % len(DOCUMENT_KINDS)]
        relpath = f"Documents/{'Screenshot_2023' if kind == 'screenshot' else 'Scan'}_{j + 1:04d}.png"
        doc_name = unique.pop()
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        draw_document(doc_name, kind, rng).save(root / relpath)
        docs.append({"relpath": relpath, "kind": kind, "name": doc_name})
    lib = Library(root, photos, docs)
    lib.save()
    return lib


def _write_photo(src: Path, dest: Path, p: LibraryPhoto, rng: random.Random, taken: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    img = Image.open(src).convert("RGB")
    if p.sign:
        img = draw_sign(img, p.sign, rng)
    exif = Image.Exif()
    exif[306] = taken
    buf = io.BytesIO()
    packet = xmp_packet(description=p.description, keywords=p.keywords) if p.carrier == "xmp" else None
    img.save(buf, "JPEG", quality=90, exif=exif, **({"xmp": packet} if packet else {}))
    data = buf.getvalue()
    if p.carrier == "iptc":
        data = with_iptc(data, iptc_block(description=p.description, keywords=p.keywords))
    dest.write_bytes(data)
    if p.carrier in ("sidecar", "sidecar-ext"):
        side = dest.with_suffix(".xmp") if p.carrier == "sidecar" else dest.with_name(dest.name + ".xmp")
        side.write_bytes(xmp_packet(description=p.description, keywords=p.keywords))
