"""``/datalayer/o/<key>``: the local datalayer's objects over HTTP, for holders of a grant.

Just enough of an object store for zarr and file transfers (what obstore's HTTP store speaks):
``GET`` (with ``Range``), ``HEAD``, ``PUT`` (atomic: written aside, then renamed) and ``DELETE``.
Every request carries ``Authorization: Bearer <grant>``; the grant must cover the key, and
writing needs a write grant. Keys are checked so that none can leave the datalayer's folder.
What the grant stands for is checked on every request too (:mod:`.access`): a write grant
writes only while its upload is in progress, a read grant reads only while its subject may see
the object. A key that is a folder (or lies under a file) is a conflict (409), never a 500.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .access import AccessEnded, GrantAccess
from .datalayer import partial_name
from .grants import GrantClaims, GrantError


class _ObjectResponse(FileResponse):
    chunk_size = 1 << 20  # fewer, larger sends than Starlette's 64 KiB: zarr chunks are MiBs
    max_ranges = 16
    """``Range`` is answered by Starlette (206; parquet reads of tables rely on it); overlapping
    ranges are merged, and a header with more ranges than this gets the whole object."""


def clean_key(key: str) -> str | None:
    """The key if it is a plain relative path, else None (``..``, empty parts, backslashes)."""
    if not key or len(key) > 1024 or "\\" in key or "\x00" in key:
        return None
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return key


def _reserved(key: str) -> bool:
    """Names starting with a dot are the server's (writes in progress): never objects."""
    return any(part.startswith(".") for part in key.split("/"))


def _problem(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _missing() -> Response:
    return _problem(404, "no such object")


class _Discarded(Exception):
    """The upload ended while its object was being written: nothing is kept."""


def _authorize(request: Request, key: str, *, write: bool) -> GrantClaims | Response:
    storage = request.app.state.arkitekt.storage
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _problem(401, "send 'Authorization: Bearer <grant>' (ask the server for a grant)")
    try:
        claims: GrantClaims = storage.signer.verify(token.strip())
    except GrantError as e:
        return _problem(401, str(e))
    if not claims.covers(key):
        return _problem(403, "the grant does not cover this key")
    if write and not claims.write:
        return _problem(403, "the grant is read-only")
    return claims


async def object_route(request: Request) -> Response:
    key = clean_key(request.path_params["key"])
    if key is None:
        return _problem(400, "invalid key")
    method = request.method
    writes = method in ("PUT", "DELETE")
    claims = _authorize(request, key, write=writes)
    if isinstance(claims, Response):
        return claims
    state = request.app.state.arkitekt
    access: GrantAccess = state.storage.access
    try:
        await access.check(claims)
    except AccessEnded as e:
        return _problem(403, str(e))
    if writes and key == claims.prefix:
        return _problem(409, "the grant's prefix is a folder: write objects inside it")
    if _reserved(key):  # zarr probes for v2 names (.zarray): simply not there
        return _problem(400, "names starting with '.' are reserved") if writes else _missing()
    root: Path = state.storage.datalayer.root
    path = state.storage.datalayer.path_of(key)
    if method in ("GET", "HEAD"):
        if not path.is_file():
            return _missing()
        stats = state.stats
        stats["datalayer_gets"] = stats.get("datalayer_gets", 0) + 1
        return _ObjectResponse(path, media_type="application/octet-stream")
    if method == "DELETE":
        if path.is_dir():
            return _problem(409, "the key is a folder, not an object")
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()
        return Response(status_code=204)
    try:
        return await _put(request, path, state.config.storage_max_object_bytes, claims, access)
    except _Discarded:
        _remove_empty_folders(path.parent, root / claims.prefix)
        return _problem(403, "the upload has ended: this grant no longer writes")


async def _put(
    request: Request, path: Path, limit: int, claims: GrantClaims, access: GrantAccess
) -> Response:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _problem(413, f"objects are limited to {limit} bytes")
    if path.is_dir():
        return _problem(409, "the key is a folder, not an object")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return _problem(409, "a part of the key is an object, not a folder")
    partial = path.with_name(partial_name(path.name))
    written = 0
    try:
        with open(partial, "wb") as f:
            async for chunk in request.stream():
                written += len(chunk)
                if written > limit:
                    raise OverflowError
                if access.is_closed(claims.prefix):
                    raise _Discarded
                f.write(chunk)
        # the upload may have ended (here or in another process) while the body arrived
        try:
            await access.check_upload(claims)
        except AccessEnded:
            raise _Discarded from None
        if access.is_closed(claims.prefix):  # finish/abort began here meanwhile
            raise _Discarded
        os.replace(partial, path)  # no await since the checks
    except OverflowError:
        partial.unlink(missing_ok=True)
        return _problem(413, f"objects are limited to {limit} bytes")
    except IsADirectoryError:
        partial.unlink(missing_ok=True)
        return _problem(409, "the key is a folder, not an object")
    except BaseException:
        partial.unlink(missing_ok=True)  # a client that went away leaves nothing behind
        raise
    return Response(status_code=201)


def _remove_empty_folders(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to ``stop`` (included) while they are empty."""
    while folder == stop or stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def routes() -> list[BaseRoute]:
    return [
        Route(
            "/datalayer/o/{key:path}",
            object_route,
            methods=["GET", "HEAD", "PUT", "DELETE"],
        )
    ]
