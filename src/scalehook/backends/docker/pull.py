"""Which reference a rollout creates containers with, pulling the image first if needed.

``/containers/create`` never pulls (the ``docker`` CLI does that for ``docker run``), so
a rollout makes sure the engine has the pushed image before it touches a replica: an
image the engine lacks, or holds at another digest than the one pushed, is pulled (with
the registry's credentials when ``registry_auth.py`` finds some); one built or loaded on
this engine (no registry digest to compare) is used as it is. A pull that fails fails
the rollout before any replica is replaced.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from scalehook.backends.engine import JSON, EngineClient, EngineError, EngineNotFound
from scalehook.backends.engine.registry_auth import RegistryAuth
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.errors import BackendError

PULL_WAIT = 600.0


def needs_pull(local: JSON | None, ref: ImageRef) -> bool:
    """Must the engine pull ``ref``, given the image it has under the tag (None: none)?"""
    if local is None:
        return True
    if ref.digest is None:
        return False
    known = []
    for text in local.get("RepoDigests") or []:
        try:
            known.append(parse_image(str(text)))
        except InvalidImage:
            continue
    if not known:
        return False  # built or loaded here: nothing to compare the pushed digest with
    return not any(k.same_repository(ref) and k.digest == ref.digest for k in known)


async def runnable(client: EngineClient, ref: ImageRef, auth: RegistryAuth | None = None) -> str:
    """The reference to create containers of ``ref`` with, pulled if the engine needs it."""
    tagged = ref.by_tag()
    try:
        local = await client.get(f"/images/{quote(tagged, safe='')}/json")
    except EngineNotFound:
        local = None
    if not needs_pull(local, ref):
        return tagged
    await pull(client, ref, auth)
    if ref.digest is not None:
        return ref.with_tag(None, ref.digest).familiar()
    return tagged


async def pull(client: EngineClient, ref: ImageRef, auth: RegistryAuth | None = None) -> None:
    """Pull ``ref`` (by digest when it has one), with its registry's credentials if any
    are found, else anonymously; ``BackendError`` says why not."""
    name = ref.with_tag(None).familiar()
    params = {"fromImage": name, "tag": ref.digest or ref.tag or "latest"}
    shown = ref.familiar()
    headers = await auth.headers(str(ref)) if auth is not None else {}
    try:
        answer = await client.request(
            "POST", "/images/create", params=params, wait=PULL_WAIT, headers=headers
        )
    except EngineError as exc:
        raise exc.reworded(
            f"the engine has no {shown} and cannot pull it: {exc.engine_text}"
        ) from exc
    for line in answer.text.splitlines():  # errors come in the stream, with a 200
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("error"):
            raise BackendError(f"the engine has no {shown} and cannot pull it: {event['error']}")
