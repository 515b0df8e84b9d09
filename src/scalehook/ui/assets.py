"""The UI's files, served from the package (``static/``), and ``/`` sent to ``/ui/``.

Only files that exist under ``static/`` when scalehook starts are served (read once,
so no request can name a path outside it); each with an ETag, revalidated by the
browser on every load (``no-cache``), and the UI's security headers.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from scalehook.errors import NotFound
from scalehook.ui.headers import SECURITY_HEADERS

STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True, slots=True)
class Asset:
    content: bytes
    media_type: str
    etag: str


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file under ``static/``, by its path relative to it."""
    found: dict[str, Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        content = path.read_bytes()
        media_type = _TYPES.get(path.suffix) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        found[path.relative_to(STATIC).as_posix()] = Asset(content, media_type, etag)
    return found


router = APIRouter()


@router.get("/", operation_id="redirectToUi", include_in_schema=False)
async def root() -> RedirectResponse:
    # Relative, so that a proxy serving scalehook under a path prefix keeps it.
    return RedirectResponse("ui/", status_code=302)


@router.get("/ui", operation_id="redirectToUiSlash", include_in_schema=False)
async def ui_without_slash() -> RedirectResponse:
    return RedirectResponse("ui/", status_code=302)


@router.get("/ui/{path:path}", operation_id="getUiAsset", include_in_schema=False)
async def asset(path: str, request: Request) -> Response:
    """The page (``/ui/``) or one of its files."""
    found = assets().get(path or "index.html")
    if found is None:
        raise NotFound(f"no such page or file: /ui/{path}")
    headers = {**SECURITY_HEADERS, "ETag": found.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.content, media_type=found.media_type, headers=headers)
