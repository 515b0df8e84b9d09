"""A small client of the management API, for the CLI (and for scripts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from scalehook.clientconfig import read_client_config


class ClientError(Exception):
    """The server refused, or could not be reached; the message says which and why,
    ``status`` the HTTP status of a refusal."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def resolve_endpoint(url: str | None, token: str | None) -> tuple[str, str | None]:
    """URL and token from flags, then env (``SCALEHOOK_ADMIN_TOKEN_FILE`` too, as ``serve``
    reads it: ``docker exec`` in the image finds the secret), then the file ``serve`` writes."""
    saved = read_client_config()
    url = url or os.environ.get("SCALEHOOK_URL") or saved.get("url") or "http://127.0.0.1:8085"
    token = (
        token
        or os.environ.get("SCALEHOOK_TOKEN")
        or os.environ.get("SCALEHOOK_ADMIN_TOKEN")
        or _token_file(os.environ.get("SCALEHOOK_ADMIN_TOKEN_FILE"))
        or saved.get("token")
    )
    return url.rstrip("/"), token


def _token_file(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientError(f"SCALEHOOK_ADMIN_TOKEN_FILE={path}: cannot read it: {exc}") from None


class Client:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.exchange(method, path, **kwargs)[0]

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, httpx.Headers]:
        """The decoded answer and its headers."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach scalehook at {self.url}: {exc}") from exc
        return decode(response), response.headers

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def decode(response: httpx.Response) -> Any:
    if response.status_code == 204:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.is_success:
        return body
    status = response.status_code
    if isinstance(body, dict) and "message" in body:
        raise ClientError(f"{status}: {body['message']}", status=status)
    raise ClientError(f"{status}: {response.text[:200]}", status=status)
