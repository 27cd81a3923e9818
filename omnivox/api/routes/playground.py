"""GET / and /playground: the browser playground, a static page bundled with the package that talks to
omnivox's own API (docs/playground.md); GET /playground/config.json: what the page needs to know that no
OpenAI route says (the voices and whether the /v1 routes want a key).

Nothing here is part of the OpenAI API, so none of it is in the OpenAPI document."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from starlette.requests import Request

from omnivox.api.state import services
from omnivox.config import OPENAI_VOICES
from omnivox.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC = files("omnivox.api") / "static"

#: Every file the page is made of, with its media type: nothing else is served from the package.
ASSETS = {
    "playground.js": "text/javascript",
    "playground.css": "text/css",
    "recorder-worklet.js": "text/javascript",
}

#: The page loads only from its own origin; its requests go only to the server that served it.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
_HEADERS = {"content-security-policy": _CSP, "cache-control": "no-cache"}


def _file(name: str, media_type: str) -> Response:
    path = STATIC / name
    return FileResponse(str(path), media_type=media_type, headers=_HEADERS)


@router.get("/")
@router.get("/playground")
async def page() -> Response:
    return _file("playground.html", "text/html; charset=utf-8")


@router.get("/playground/static/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"The playground has no file `{name}`.")
    return _file(name, media_type)


@router.get("/playground/config.json")
async def config(request: Request) -> dict[str, Any]:
    """`voices`: OpenAI's names (each speaks with a configured voice), then the configured voice ids;
    `api_key_required`: whether /v1 routes answer 401 without `Authorization: Bearer <key>`."""
    state = services(request)
    configured = [voice.id for voice in state.catalog.voices]
    settings = state.settings
    return {
        "voices": [*OPENAI_VOICES, *configured] if configured else [],
        "api_key_required": bool(settings.api_keys or settings.api_keys_file),
    }
