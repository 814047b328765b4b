"""clip-retrieval's clip-back protocol at the root, so that its ClipClient and its web front query
vsearch unchanged (clip_retrieval/clip_back.py, 2.45):

    GET  /indices-list   the collections                      -> ["photos", ...]
    POST /knn-service    {text | image (base64) | embedding_input, modality, num_images,
                          num_result_ids, indice_name, deduplicate, ...}
                         -> [{id, similarity, image_path, url, caption?}, ...]
    POST /metadata       {ids, indice_name} -> [{id, metadata: {...}}, ...]

As clip-back does: the body is JSON whatever the Content-Type says; `modality` "image" searches
the images and "text" the collection's text corpus; every one of the first `num_result_ids`
results has id and similarity, the first `num_images` also their metadata (the front fetches the
rest from /metadata as it scrolls); `deduplicate` drops hits within cosine 0.94 of a better one.
vsearch's own choices: `url` is a thumbnail this server serves; num_result_ids above the server's
max k is clamped to it (X-Vsearch-Clamped says so); options vsearch does not have (safety model,
violence detector, aesthetic score, mclip) are accepted, ignored and listed in X-Vsearch-Ignored;
`image_url` is never fetched (no requests to other hosts), but a URL of one of this server's own
thumbnails (the front's "search by this image") is searched as that image.
"""
from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Any, Optional, Union
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ..search.dedupe import DEDUPE_COSINE
from .context import Context
from .errors import ApiError, ErrorBody, describe
from .queries import b64_bytes, decoded
from .schemas import ID_MAX, ID_MIN, Number
from .schemas import text as bounded_text

IGNORED = ("use_mclip", "use_safety_model", "use_violence_detector", "aesthetic_score", "aesthetic_weight")
_THUMB = re.compile(r"/v1/collections/(?P<name>[^/]+)/images/(?P<id>-?\d{1,20})/thumbnail(?:/\d+)?")


class KnnIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: Optional[bounded_text(100_000, 0)] = None
    image: Optional[str] = None
    image_url: Optional[str] = Field(None, max_length=4096)
    embedding_input: Optional[list[Number]] = Field(None, max_length=4096)
    modality: str = Field("image", pattern="^(image|text)$")
    num_images: int = Field(40, ge=0, le=ID_MAX)
    num_result_ids: Optional[int] = Field(None, ge=0, le=ID_MAX)
    indice_name: Optional[bounded_text(1024, 0)] = None
    deduplicate: bool = False


class MetadataIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    ids: list[Union[StrictInt, StrictStr]] = Field(max_length=100_000)
    indice_name: Optional[bounded_text(1024, 0)] = None


def _body(model: type[BaseModel], raw: bytes) -> Any:
    try:
        data = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body is a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ApiError(422, describe(e.errors())) from None


def _schema(model: type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def router(ctx: Context) -> APIRouter:
    r = APIRouter(tags=["clip-retrieval clip-back"], responses={c: {"model": ErrorBody} for c in (400, 401, 404, 413, 422, 503, 504)})
    limits = ctx.config.limits

    def collection(name: Optional[str]):
        return ctx.served.get(name if name else ctx.served.names()[0])

    @r.get("/indices-list", response_model=list[str], summary="The collections (clip-back's indices)")
    async def indices_list() -> list[str]:
        return ctx.served.names()

    @r.post("/knn-service", openapi_extra=_schema(KnnIn), response_model=list[dict[str, Any]],
            summary="Nearest images (or corpus texts) of a text, an image or an embedding")
    async def knn_service(request: Request):
        q = _body(KnnIn, await request.body())
        if q.text and len(q.text) > limits.max_query_chars:
            raise ApiError(422, f"text: at most {limits.max_query_chars} characters (got {len(q.text)})")
        col = collection(q.indice_name)
        wanted = q.num_images if q.num_result_ids is None else q.num_result_ids
        n = min(wanted, limits.max_k)
        headers = {}
        if n < wanted:
            headers["X-Vsearch-Clamped"] = f"num_result_ids {wanted} -> {n}"
        ignored = [k for k in IGNORED if (q.model_extra or {}).get(k) not in (None, False, "", 0)]
        ignored += [k for k in (q.model_extra or {}) if k not in IGNORED][:20]
        if q.deduplicate and q.modality == "text":
            ignored.append("deduplicate")
        if ignored:
            headers["X-Vsearch-Ignored"] = ", ".join(re.sub(r"[^A-Za-z0-9_.-]", "?", k)[:64] for k in ignored)
        query = _query(q, col.name, limits.max_upload)
        if n == 0:
            return JSONResponse([], headers=headers)

        def run():
            view = col.snapshot()
            given = dict(query)
            if "image" in given:
                given["image"] = decoded(view, given["image"], limits.max_upload)
            if q.modality == "text":   # the text corpus, for any kind of query
                if "text" in given:
                    given = {"vector": view.text_vector(given["text"])}
                hits = view.search_texts(given.get("image"), like=given.get("like"), vector=given.get("vector"), k=n)
                return [{"id": h.id, "similarity": h.score, "caption": h.text} for h in hits]
            hits = view.search(given.get("text"), image=given.get("image"), like=given.get("like"),
                               vector=given.get("vector"), k=n, dedupe=DEDUPE_COSINE if q.deduplicate else None)
            return [{"id": h.id, "similarity": h.score, "image_path": h.path} for h in hits]

        results = await ctx.workers.run(run)
        base = ctx.urls.base(request)
        for i, item in enumerate(results):
            if i >= q.num_images:
                item.pop("image_path", None)
                item.pop("caption", None)
            elif "image_path" in item:
                item["url"] = ctx.urls.thumbnail(base, col.name, item["id"])
        return JSONResponse(results, headers=headers)

    @r.post("/metadata", openapi_extra=_schema(MetadataIn), response_model=list[dict[str, Any]],
            summary="Metadata of result ids (the front's infinite scroll)")
    async def metadata(request: Request):
        q = _body(MetadataIn, await request.body())
        if len(q.ids) > limits.max_ids:
            raise ApiError(400, f"at most {limits.max_ids} ids a call (got {len(q.ids)})")
        ids = [_as_id(i) for i in q.ids]
        col = collection(q.indice_name)

        def run():
            view = col.snapshot()
            out = []
            for id_ in ids:
                rows = view.metadata(id_)
                if rows:
                    out.append({"id": id_, "metadata": {"image_path": str(PurePath(rows[0]["root"]) / rows[0]["path"])}})
                    continue
                text = view.text(id_)
                if text is not None:
                    out.append({"id": id_, "metadata": {"caption": text.text}})
            return out

        results = await ctx.workers.run(run)
        base = ctx.urls.base(request)
        for item in results:
            if "image_path" in item["metadata"]:
                item["metadata"]["url"] = ctx.urls.thumbnail(base, col.name, item["id"])
        return results

    return r


def _query(q: KnnIn, collection: str, max_upload: int) -> dict[str, Any]:
    """One query, in clip-back's order of precedence: text, image, image_url, embedding_input."""
    if q.text:
        return {"text": q.text}
    if q.image:
        return {"image": b64_bytes(q.image, max_upload)}
    if q.image_url:
        parts = urlsplit(q.image_url)
        m = _THUMB.fullmatch(unquote(parts.path))
        if m and m["name"] == collection and ID_MIN <= int(m["id"]) <= ID_MAX:
            return {"like": int(m["id"])}
        raise ApiError(400, "image_url is only followed to this server's own thumbnails of the same collection; "
                            "send the image itself as base64 in `image`")
    if q.embedding_input:
        return {"vector": q.embedding_input}
    raise ApiError(400, "give one of: text, image (base64), embedding_input")


def _as_id(value: Union[int, str]) -> int:
    """An id as a number, or as the string the front's big-number JSON writes."""
    try:
        id_ = int(value)
    except (TypeError, ValueError):
        raise ApiError(422, f"ids are whole numbers (got {str(value)[:40]!r})") from None
    if not ID_MIN <= id_ <= ID_MAX or isinstance(value, bool):
        raise ApiError(422, f"id {str(value)[:40]} is out of range")
    return id_
