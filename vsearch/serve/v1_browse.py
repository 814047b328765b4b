"""/v1 browsing: the collections served and their info, the facets filters choose from, one
image's metadata, its thumbnail and (opt-in, --serve-files) its original file.

No `from __future__ import annotations` (FastAPI reads the signatures)."""
from typing import Any

from fastapi import APIRouter, Request

from .context import Context
from .errors import ApiError, ErrorBody
from .files import file_response, thumbnail_response
from .schemas import CollectionsOut, ImageOut, ThumbSize, path_params

ERRORS = {code: {"model": ErrorBody} for code in (401, 404, 422, 503, 504)}


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERRORS)
    Name, ImageId = path_params(*ctx.examples)

    @r.get("", response_model=CollectionsOut, summary="The collections served")
    async def collections() -> dict:
        def run():
            out = []
            for name in ctx.served.names():
                m = ctx.served.get(name).snapshot().store.manifest
                out.append({"name": name, "model": m.model.name, "generation": m.generation,
                            "images": m.counts.get("images", 0), "texts": m.counts.get("texts", 0)})
            return out

        return {"collections": await ctx.workers.run(run)}

    @r.get("/{name}", summary="Model, index, counts, roots and generation of a collection")
    async def info(name: Name) -> dict[str, Any]:
        col = ctx.served.get(name)
        return await ctx.workers.run(col.info, disk_usage=False)

    @r.get("/{name}/facets", summary="What the structured filter can choose from")
    async def facets(name: Name) -> dict[str, Any]:
        col = ctx.served.get(name)
        return await ctx.workers.run(col.facets)

    @r.get("/{name}/images/{id}", response_model=ImageOut, summary="An image's metadata rows and its URLs")
    async def image(request: Request, name: Name, id: ImageId) -> dict:
        col = ctx.served.get(name)
        rows = await ctx.workers.run(_metadata, col, id)
        base = ctx.urls.base(request)
        return {"collection": name, "id": id, "rows": rows, "thumbnail": ctx.urls.thumbnail(base, name, id),
                "file": ctx.urls.file(base, name, id) if ctx.config.serve_files else None}

    @r.get("/{name}/images/{id}/thumbnail", response_class=_jpeg(), summary="A JPEG of the image, longer side 320")
    async def thumbnail(name: Name, id: ImageId):
        col = ctx.served.get(name)
        return await ctx.workers.run(thumbnail_response, col, id, 320)

    @r.get("/{name}/images/{id}/thumbnail/{size}", response_class=_jpeg(), summary="A JPEG of the image, longer side `size`")
    async def thumbnail_sized(name: Name, id: ImageId, size: ThumbSize):
        col = ctx.served.get(name)
        return await ctx.workers.run(thumbnail_response, col, id, size)

    @r.get("/{name}/images/{id}/file", summary="The original file (only with --serve-files; inside the roots only)",
           responses={200: {"content": {"application/octet-stream": {}}}, 403: {"model": ErrorBody}})
    async def file(name: Name, id: ImageId):
        col = ctx.served.get(name)
        return await ctx.workers.run(file_response, col, id, ctx.config.serve_files)

    return r


def _metadata(col, id_: int) -> list[dict]:
    rows = col.metadata(id_)
    if not rows:
        raise ApiError(404, f"no image with id {id_} in collection {col.name!r}")
    return rows


def _jpeg():
    from starlette.responses import Response

    class JpegResponse(Response):
        media_type = "image/jpeg"

    return JpegResponse
