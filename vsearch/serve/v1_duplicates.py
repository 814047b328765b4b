"""/v1 near duplicates: a collection's groups, a page at a time, as `vsearch duplicates --json` lists
them, each member with its thumbnail's URL. Nothing is ever deleted or moved.

No `from __future__ import annotations` (FastAPI reads the signatures)."""
from typing import Optional

from fastapi import APIRouter, Query, Request

from ..duplicates.pairs import PAIR_FLOOR
from .context import Context
from .errors import ErrorBody
from .queries import check_page
from .schemas import DuplicatesOut, path_params

ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 404, 422, 503, 504)}


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix="/v1/collections/{name}", tags=["duplicates"], responses=ERRORS)
    limits = ctx.config.limits
    Name, _ = path_params(*ctx.examples)

    @r.get("/duplicates", response_model=DuplicatesOut, summary="Groups of near-duplicate photos, each with a suggested keeper")
    async def duplicates(request: Request, name: Name,
                         threshold: Optional[float] = Query(None, ge=PAIR_FLOOR, le=1.0, description=(
                             "the cosine from which two photos' vectors say they are the same photo (default: the "
                             "collection's rule, 0.86)")),
                         k: int = Query(50, ge=1, le=limits.max_k, description="groups in this page"),
                         offset: int = Query(0, ge=0, le=limits.max_k - 1, description="groups to skip")) -> dict:
        col = ctx.served.get(name)
        check_page(k, offset, limits.max_k)

        def run():
            view = col.snapshot()
            return view.generation, view.duplicates(threshold, offset, k + 1)  # one more: is there a next page?

        generation, groups = await ctx.workers.run(run)
        base = ctx.urls.base(request)
        page = [{**g.to_dict(), "members": [{**m, "thumbnail": ctx.urls.thumbnail(base, name, m["id"])}
                                            for m in g.to_dict()["members"]]} for g in groups[:k]]
        return {"collection": name, "generation": generation, "groups": page,
                "next_offset": offset + k if len(groups) > k and offset + k < limits.max_k else None}

    return r
