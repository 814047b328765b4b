"""Every error the service answers is JSON `{"error": message, "status": code}`: a library error
becomes a 4xx with its message, bad input a 400/413/422, and a bug a 500 that says only that
(the traceback goes to the server's log, never to the client)."""
from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ..errors import (AmbiguousCollectionError, CollectionFormatError, CollectionNotFoundError, ImageError,
                      InvalidOptionError, ModelMismatchError, ModelUnavailableError, QueryError, VsearchError)
from ..escape import valid_utf8

log = logging.getLogger("vsearch.serve")


class ErrorBody(BaseModel):
    error: str
    status: int


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": valid_utf8(message), "status": status}, ensure_ascii=False).encode()
    return Response(body, status, headers=headers, media_type="application/json")


def status_of(e: VsearchError) -> int:
    if isinstance(e, CollectionNotFoundError):
        return 404
    if isinstance(e, (QueryError, InvalidOptionError, ImageError, AmbiguousCollectionError)):
        return 400
    if isinstance(e, (CollectionFormatError, ModelMismatchError, ModelUnavailableError)):
        return 503   # the collection or its model cannot serve now: not the client's fault
    return 400


def describe(errors: list) -> str:
    """Pydantic's validation errors as one line: `body.k: Input should be ...; ...` (without the input)."""
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()))
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> Response:
        return error_response(e.status, e.message, e.headers)

    @app.exception_handler(VsearchError)
    async def library_error(request: Request, e: VsearchError) -> Response:
        return error_response(status_of(e), str(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        errors = e.errors()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if any(tuple(x.get("loc", ())) == ("body",) for x in errors) and kind not in ("application/json", "multipart/form-data"):
            return error_response(415 if kind else 422, "send the body as JSON with 'Content-Type: application/json'"
                                  + (f" (got {kind!r})" if kind else ""))
        return error_response(422, describe(errors))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        if isinstance(e.__cause__, RecursionError):  # FastAPI's "error parsing the body", for JSON nested too deep
            return error_response(400, "the request body is nested too deeply")
        return error_response(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, e: RecursionError) -> Response:
        return error_response(400, "the request body is nested too deeply")

    @app.exception_handler(Exception)
    async def bug(request: Request, e: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(e).__name__}); the server's log has the details")
