"""Proof that a hook call comes from whoever holds the receiver's secret.

The trigger URL's key already is a secret, but URLs leak (proxies, CI logs). A
receiver may also have a ``secret`` that every call must prove, whatever source the
body claims to come from, so a forged Docker Hub body cannot step around a GitHub
signature:

- GitHub signs the body: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>``;
- Harbor ("Auth Header"), Distribution and GitLab (``headers`` in their notification
  config), Alertmanager (``authorization``) and curl send it as ``Authorization:
  Bearer <secret>`` or ``Authorization: <secret>``;
- Docker Hub and Quay can do neither: leave ``secret`` unset for them.

Comparisons are constant-time; the secret is never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from scalehook.errors import Unauthorized

SIGNATURE_HEADER = "x-hub-signature-256"


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Return when the call proves the secret; raise ``Unauthorized`` (401) otherwise.

    ``headers`` have lower-case names, as ``HookCall`` holds them.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if signature is not None:
        if not hmac.compare_digest(signature.strip().encode(), sign(secret, body).encode()):
            raise Unauthorized("X-Hub-Signature-256 does not match the body and the secret")
        return
    authorization = headers.get("authorization")
    if authorization is not None:
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not hmac.compare_digest(token.encode(), secret.encode()):
            raise Unauthorized("the Authorization header does not hold the receiver's secret")
        return
    raise Unauthorized(
        "this receiver has a secret: sign the body (X-Hub-Signature-256) "
        "or send the secret in the Authorization header"
    )
