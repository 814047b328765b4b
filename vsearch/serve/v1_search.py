"""/v1 search: by text, by an image (base64 in JSON, or a multipart upload), by an ingested image
(`like`) or by a raw vector; and image -> text over the collection's text corpus. Each request
reads one generation (a snapshot of the collection, taken on a worker thread), and every hit
carries what `vsearch query --json` prints plus its thumbnail's URL.

No `from __future__ import annotations`: FastAPI reads the route signatures, whose body types are
made per server (schemas.Inputs).
"""
from typing import Optional

from fastapi import APIRouter, File, Form, Request, UploadFile

from .context import Context
from .errors import ApiError, ErrorBody
from .queries import b64_bytes, check_page, decoded, next_offset, where_of
from .schemas import SearchOut, TextSearchOut, path_params, plain_text

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 503, 504)}


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix="/v1/collections/{name}", tags=["search"], responses=ERRORS)
    limits = ctx.config.limits
    SearchIn, TextSearchIn = ctx.inputs.SearchIn, ctx.inputs.TextSearchIn
    Name, _ = path_params(*ctx.examples)

    async def image_search(request: Request, name: str, data: Optional[bytes], **query) -> dict:
        col = ctx.served.get(name)
        k, offset = query.pop("k"), query.pop("offset")
        want = check_page(k, offset, limits.max_k)

        def run():
            view = col.snapshot()
            image = decoded(view, data, limits.max_upload) if data is not None else None
            return view.generation, view.search(image=image, k=want, **query)

        generation, hits = await ctx.workers.run(run)
        base = ctx.urls.base(request)
        return {"collection": name, "generation": generation, "next_offset": next_offset(len(hits), k, offset, limits.max_k),
                "hits": [{**h.to_dict(), "thumbnail": ctx.urls.thumbnail(base, name, h.id)} for h in hits[offset:]]}

    @r.post("/search", response_model=SearchOut, summary="Images for a text, an image, an ingested image or a vector")
    async def search(request: Request, name: Name, body: SearchIn) -> dict:
        given = [x is not None for x in (body.text, body.image, body.like, body.vector)]
        if sum(given) != 1:
            raise ApiError(400, "give exactly one of: text, image, like, vector")
        data = b64_bytes(body.image, limits.max_upload) if body.image is not None else None
        return await image_search(request, name, data, k=body.k, offset=body.offset, text=body.text,
                                  like=body.like, vector=body.vector, where=where_of(body.where, body.filter),
                                  rerank=body.rerank, rerank_k=body.rerank_k, hubness=body.hubness, dedupe=body.dedupe,
                                  every_moment=body.every_moment, collapse_duplicates=body.collapse_duplicates)

    @r.post("/search/upload", response_model=SearchOut, summary="Images like an uploaded image (multipart)")
    async def search_upload(request: Request, name: Name, file: UploadFile = File(..., description="the image"),
                            k: int = Form(10, ge=1, le=limits.max_k), offset: int = Form(0, ge=0, le=limits.max_k - 1),
                            where: Optional[str] = Form(None, min_length=1, max_length=limits.max_filter_chars),
                            dedupe: Optional[float] = Form(None, gt=0.0, le=1.0),
                            collapse_duplicates: bool = Form(False)) -> dict:
        data = await read_upload(file, limits.max_upload)
        return await image_search(request, name, data, k=k, offset=offset, where=_plain(where), dedupe=dedupe,
                                  collapse_duplicates=collapse_duplicates)

    async def text_search(name: str, data: Optional[bytes], k: int, offset: int, **query) -> dict:
        col = ctx.served.get(name)
        want = check_page(k, offset, limits.max_k)

        def run():
            view = col.snapshot()
            image = decoded(view, data, limits.max_upload) if data is not None else None
            return view.generation, view.search_texts(image, k=want, **query)

        generation, hits = await ctx.workers.run(run)
        return {"collection": name, "generation": generation, "next_offset": next_offset(len(hits), k, offset, limits.max_k),
                "hits": [h.to_dict() for h in hits[offset:]]}

    @r.post("/texts/search", response_model=TextSearchOut, summary="Corpus texts for an image (image -> text)")
    async def texts_search(name: Name, body: TextSearchIn) -> dict:
        data = b64_bytes(body.image, limits.max_upload) if body.image is not None else None
        if sum(x is not None for x in (data, body.like, body.vector)) != 1:
            raise ApiError(400, "give exactly one of: image, like, vector")
        return await text_search(name, data, body.k, body.offset, like=body.like, vector=body.vector,
                                 rerank=body.rerank, rerank_k=body.rerank_k, hubness=body.hubness)

    @r.post("/texts/search/upload", response_model=TextSearchOut, summary="Corpus texts for an uploaded image (multipart)")
    async def texts_search_upload(name: Name, file: UploadFile = File(...), k: int = Form(10, ge=1, le=limits.max_k),
                                  offset: int = Form(0, ge=0, le=limits.max_k - 1)) -> dict:
        return await text_search(name, await read_upload(file, limits.max_upload), k, offset)

    return r


def _plain(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        return plain_text(value)
    except ValueError as e:
        raise ApiError(422, f"where: {e}") from None


async def read_upload(file: UploadFile, limit: int) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"the image is larger than {limit:,} bytes")
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data

