"""The /v1 API's bodies and answers, as Pydantic models: FastAPI validates requests against them
and publishes them in the OpenAPI schema (/openapi.json). Request bodies are built per server,
with its configured caps (config.Limits) as their constraints.

No `from __future__ import annotations` here: the input models are classes made inside a function,
and Pydantic reads their annotations as objects."""
from datetime import date
from typing import Annotated, Any, Optional, Union

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

from .config import THUMB_SIZES, Limits

ID_MIN, ID_MAX = -(2**63), 2**63 - 1   # content ids are int64


def plain_text(s: str) -> str:
    """Text from outside that the tokenizer, DuckDB and JSON can all take: no NUL or unpaired surrogate."""
    if "\x00" in s or any(0xD800 <= ord(c) < 0xE000 for c in s):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return s


def text(max_length: int, min_length: int = 1) -> Any:
    """A string of min_length to max_length characters, checked by plain_text."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(plain_text)]


Name = text(1024)
Ref = text(4096)
Id = Annotated[int, Field(ge=ID_MIN, le=ID_MAX)]


ThumbSize = Annotated[int, Path(description="the longer side, in pixels", json_schema_extra={"enum": list(THUMB_SIZES)})]
Number = Union[StrictInt, StrictFloat]   # a vector's component: never a bool or a numeric string


def path_params(names: list[str], an_id: Optional[int]) -> tuple[Any, Any]:
    """The {name} and {id} path parameters, with this server's collections and one of their
    image ids as examples (for the schema's readers, and for schemathesis to reach past a 404)."""
    name = Annotated[str, Path(description="the collection", examples=names[:5])]
    image_id = Annotated[int, Path(ge=ID_MIN, le=ID_MAX, description="the image's content id",
                                   examples=[an_id] if an_id is not None else None)]
    return name, image_id


def _one_of(*keys: str) -> dict:
    return {"oneOf": [{"required": [k]} for k in keys]}


class Inputs:
    """The request bodies, with this server's caps in their constraints (so /openapi.json states them)."""

    def __init__(self, limits: Limits):
        L = limits
        image_doc = f"an image file, base64 (at most {L.max_upload:,} bytes decoded: 413 above)"
        Query, Where = text(L.max_query_chars), text(L.max_filter_chars)

        class FilterIn(BaseModel):
            """The structured filter (vsearch.Filter): values, never SQL text."""
            model_config = ConfigDict(extra="forbid")
            folders: list[Name] = Field(default_factory=list, max_length=L.max_filter_values,
                                        description="any of these folders (relative to the root), or below them")
            cameras: list[Name] = Field(default_factory=list, max_length=L.max_filter_values)
            taken_from: Optional[date] = Field(None, description="EXIF capture date, inclusive")
            taken_to: Optional[date] = Field(None, description="inclusive (the whole day)")
            min_bytes: Optional[int] = Field(None, ge=0, le=2**62)
            max_bytes: Optional[int] = Field(None, ge=0, le=2**62)

        class SearchIn(BaseModel):
            """Exactly one of text, image, like, vector; k + offset at most the server's max k."""
            model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of("text", "image", "like", "vector"))
            text: Optional[Query] = Field(None, description="what to look for, in words")
            image: Optional[str] = Field(None, min_length=1, description=image_doc)
            like: Optional[Union[Id, Ref]] = Field(None, description="more like this: an id or path of an ingested image")
            vector: Optional[list[Number]] = Field(None, min_length=1, max_length=4096,
                                                   description="a query vector in the collection's space")
            k: int = Field(10, ge=1, le=L.max_k, description="results in this page")
            offset: int = Field(0, ge=0, le=L.max_k - 1, description="results to skip")
            where: Optional[Where] = Field(None, description="a --where filter expression over the metadata")
            filter: Optional[FilterIn] = None
            rerank: bool = Field(False, description="reorder the top hits with the ITM cross-encoder (text queries)")
            rerank_k: Optional[int] = Field(None, ge=0, le=L.max_rerank_k)
            hubness: bool = Field(True, description="rank text queries with the model's hubness correction")
            dedupe: Optional[float] = Field(None, gt=0.0, le=1.0,
                                            description="drop hits this close (cosine) to a better one, e.g. 0.94")
            every_moment: bool = Field(False, description="videos: every matching frame a hit (default: each video once)")
            collapse_duplicates: bool = Field(False, description="each group of near duplicates once, as its keeper; "
                                                                 "the others in the hit's `near_duplicates`")

        class TextSearchIn(BaseModel):
            """Image -> text over the collection's text corpus: exactly one of image, like, vector."""
            model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of("image", "like", "vector"))
            image: Optional[str] = Field(None, min_length=1, description=image_doc)
            like: Optional[Union[Id, Ref]] = None
            vector: Optional[list[Number]] = Field(None, min_length=1, max_length=4096)
            k: int = Field(10, ge=1, le=L.max_k)
            offset: int = Field(0, ge=0, le=L.max_k - 1)
            rerank: bool = False
            rerank_k: Optional[int] = Field(None, ge=0, le=L.max_rerank_k)
            hubness: bool = True

        self.FilterIn, self.SearchIn, self.TextSearchIn = FilterIn, SearchIn, TextSearchIn


class HitOut(BaseModel):
    """What `vsearch query --json` prints for a hit, and its thumbnail's URL."""
    id: int
    score: float
    path: str
    relpath: str
    folder: str
    root: str = ""
    bytes: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    taken_at: Optional[str] = None
    mtime: Optional[str] = None
    camera: Optional[str] = None
    lens: Optional[str] = None
    duplicates: list[str] = []
    rerank_score: Optional[float] = None
    media: str = "photo"
    moment_s: Optional[float] = Field(None, description="a video's: the time of the frame that matched")
    duration_s: Optional[float] = None
    moments: list[list[float]] = Field([], description="a video's other matching frames: [seconds, score], best first")
    companions: list[str] = Field([], description="the photo's other files: its RAW, its Live Photo video")
    near_duplicates: list[str] = Field([], description="the rest of its near-duplicate group, when a search collapses them")
    thumbnail: str


class SearchOut(BaseModel):
    collection: str
    generation: int
    hits: list[HitOut]
    next_offset: Optional[int] = Field(None, description="offset of the next page; null when there is none")


class MemberOut(BaseModel):
    """A file of a near-duplicate group (vsearch duplicates --json), and its thumbnail's URL."""
    id: int
    path: str
    relpath: str
    root: str
    bytes: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    date: Optional[str] = Field(None, description="EXIF capture time, else the file's time")
    similarity: float = Field(description="cosine to the keeper's vector (1.0: the keeper, an identical file)")
    how: str = Field(description="keeper, identical, or what matched the keeper: vectors, pixels, crop")
    moment_s: Optional[float] = Field(None, description="a video's: the time of the frame that matched")
    keeper: bool
    thumbnail: str


class GroupOut(BaseModel):
    keeper: str = Field(description="the suggested keeper's path (nothing is ever deleted or moved)")
    rule: str = Field(description="the keeper rule that decided")
    compared: str = Field(description="the values it compared, keeper first")
    members: list[MemberOut]


class DuplicatesOut(BaseModel):
    collection: str
    generation: int
    groups: list[GroupOut]
    next_offset: Optional[int] = Field(None, description="offset of the next page of groups; null when there is none")


class TextHitOut(BaseModel):
    id: int
    score: float
    text: str
    source: Optional[str] = None
    rerank_score: Optional[float] = None


class TextSearchOut(BaseModel):
    collection: str
    generation: int
    hits: list[TextHitOut]
    next_offset: Optional[int] = None


class CollectionOut(BaseModel):
    name: str
    model: str
    generation: int
    images: int
    texts: int


class CollectionsOut(BaseModel):
    collections: list[CollectionOut]


class ImageOut(BaseModel):
    collection: str
    id: int
    rows: list[dict[str, Any]] = Field(description="its metadata rows (several when the same content is stored twice)")
    thumbnail: str
    file: Optional[str] = Field(None, description="the original file's URL, when the server serves files")


class Health(BaseModel):
    status: str
    collections: dict[str, int] = Field(description="the generation each collection serves")
