"""``scalehook apply -f FILE``: make the server hold what a file declares, by name.

A file (YAML or JSON; several YAML documents are read in turn) has a section per kind
of resource::

    receivers:
      - {name: web-up, driver: scaleService, config: {service: web, action: up, max: 5}}
    notifications:
      - {name: ops, type: webhook, url: "https://hooks.example/x", on: {result: failed}}
    policies:
      - {name: web-cpu, service: web, min: 1, max: 10, metrics: [{name: cpu, source: engine,
         metric: cpu, target: 60}]}

Each object is created when no object of its kind has its name, changed (only the
fields that differ) when one has, and left alone when it is the same: applying a file
twice changes nothing the second time, so the file can live in git. Objects the file
does not name are never touched. ``--dry-run`` says what would change.

A kind of resource is one ``Applier`` in ``APPLIERS``: most are a ``NamedResource``
(a collection at ``path`` whose objects have a unique ``name``); a resource of another
shape implements ``apply`` itself, as health checks do (one per service)::

    healthchecks:
      web: {http: "GET /healthz HTTP/1.0", interval: 2s, strategy: recreate}
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import click
import yaml

from scalehook.cli.client import Client, ClientError
from scalehook.cli.common import State, pass_state


class Applier(Protocol):
    @property
    def section(self) -> str:
        """The file's key for this kind (``receivers``)."""
        ...

    def apply(self, client: Client, items: Any, *, dry_run: bool) -> list[str]:
        """Make the server hold ``items``; one line per object saying what was done."""
        ...


@dataclass(frozen=True)
class NamedResource:
    """A collection at ``path`` (``POST`` to create, ``GET``/``PATCH {path}/{name}``),
    whose objects are told apart by ``name``. ``fields`` are those a file may give and
    that are compared; ``secrets`` are fields the API never shows, as dotted paths
    (``config.secret``, ``smtp.password``), or a function of the object giving them
    (they may depend on its type): sent whenever the file gives them, never compared;
    ``shown`` names what to print of a new object, as (label, field of the answer): a
    receiver's trigger URL."""

    section: str
    noun: str
    path: str
    fields: tuple[str, ...]
    secrets: tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]] = ()
    shown: tuple[str, str] | None = None
    normal: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    """The object in the form the server shows it (``"a,b"`` as a list), to compare."""

    def apply(self, client: Client, items: Any, *, dry_run: bool) -> list[str]:
        if not isinstance(items, list):
            raise ClientError(f"{self.section}: write a list of {self.noun} objects")
        lines = []
        for index, item in enumerate(items):
            where = f"{self.section}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ClientError(f"{where}: a {self.noun} is an object with a name")
            unknown = sorted(set(item) - {"name", *self.fields})
            if unknown:
                raise ClientError(
                    f"{where}.{unknown[0]}: not a field of a {self.noun} "
                    f"(use {', '.join(('name', *self.fields))})"
                )
            wanted = item if self.normal is None else self.normal(item)
            lines.append(self._one(client, wanted, where=where, dry_run=dry_run))
        return lines

    def _one(self, client: Client, item: dict[str, Any], *, where: str, dry_run: bool) -> str:
        name = item["name"]
        label = f"{self.noun} {name}"
        current = self._find(client, name)
        if current is None:
            if dry_run:
                return f"{label}: would be created"
            answer = self._send(client, "POST", self.path, item, where)
            if self.shown is None or not isinstance(answer, dict):
                return f"{label}: created" + _warned(answer)
            title, key = self.shown
            return f"{label}: created ({title} {answer.get(key)})" + _warned(answer)
        secret_paths = self._secret_paths(item)
        changes = self._changes(item, current, secret_paths)
        secrets = self._secrets(item, secret_paths)
        if not changes and not secrets:
            return f"{label}: unchanged"
        if dry_run:
            what = ", ".join(sorted(changes)) or "its secret, re-sent"
            return f"{label}: would be updated ({what})"
        body = dict(changes)
        for key, value in secrets.items():
            if isinstance(value, dict):
                body[key] = {**body.get(key, {}), **value}
            else:
                body[key] = value
        answer = self._send(client, "PATCH", f"{self.path}/{name}", body, where)
        if not changes:
            return f"{label}: unchanged (secret re-sent)"
        return f"{label}: updated ({', '.join(sorted(changes))})" + _warned(answer)

    def _secret_paths(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        return self.secrets(item) if callable(self.secrets) else self.secrets

    def _find(self, client: Client, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = client.get(f"{self.path}/{name}")
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def _changes(
        self, item: Mapping[str, Any], current: Mapping[str, Any], secrets: tuple[str, ...]
    ) -> dict[str, Any]:
        """The fields the file gives that differ from the server's (an object compared
        as the server shows it: without its secrets, with its defaults filled)."""
        changes: dict[str, Any] = {}
        for key, wanted in item.items():
            if key == "name" or key in secrets:
                continue
            have = current.get(key)
            if isinstance(wanted, dict) and isinstance(have, dict):
                visible = {k: v for k, v in wanted.items() if f"{key}.{k}" not in secrets}
                if any(have.get(k) != v for k, v in visible.items()):
                    changes[key] = visible
            elif have != wanted:
                changes[key] = wanted
        return changes

    @staticmethod
    def _secrets(item: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
        """The secrets the file gives, nested as the body sends them."""
        found: dict[str, Any] = {}
        for path in paths:
            top, _, inner = path.partition(".")
            value = item.get(top)
            if inner:
                value = value.get(inner) if isinstance(value, dict) else None
                if value is not None:
                    found.setdefault(top, {})[inner] = value
            elif value is not None:
                found[top] = value
        return found

    @staticmethod
    def _send(client: Client, method: str, path: str, body: Any, where: str) -> Any:
        try:
            return client.request(method, path, json=body)
        except ClientError as exc:
            raise ClientError(f"{where}: {exc}", status=exc.status) from exc


def _warned(answer: Any) -> str:
    """The warnings an answer carries (a policy whose Prometheus is down), on the line."""
    warnings = answer.get("warnings") if isinstance(answer, dict) else None
    return "".join(f"; warning: {w}" for w in warnings or [])


RECEIVERS = NamedResource(
    section="receivers",
    noun="receiver",
    path="/v1/receivers",
    fields=("driver", "config", "enabled", "dry_run", "paused"),
    secrets=("config.secret",),
    shown=("trigger URL", "url"),
)


def _notification_secrets(item: Mapping[str, Any]) -> tuple[str, ...]:
    """A Slack notification's URL is its secret; a webhook's is not (its secret is)."""
    if item.get("type") == "slack":
        return ("url",)
    return ("secret", "smtp.password")


def _listed(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _notification_normal(item: dict[str, Any]) -> dict[str, Any]:
    """Filters and recipients as lists, as the server shows them."""
    item = dict(item)
    if isinstance(item.get("on"), dict):
        item["on"] = {k: _listed(v) for k, v in item["on"].items()}
    smtp = item.get("smtp")
    if isinstance(smtp, dict) and "to" in smtp:
        item["smtp"] = {**smtp, "to": _listed(smtp["to"])}
    return item


NOTIFICATIONS = NamedResource(
    section="notifications",
    noun="notification",
    path="/v1/notifications",
    fields=("type", "url", "secret", "smtp", "on", "enabled"),
    secrets=_notification_secrets,
    normal=_notification_normal,
)


POLICIES = NamedResource(
    section="policies",
    noun="policy",
    path="/v1/policies",
    fields=(
        "service",
        "min",
        "max",
        "interval",
        "metrics",
        "behavior",
        "tolerance",
        "cpu_initialization",
        "on_error",
        "dry_run",
        "paused",
    ),
)


@dataclass(frozen=True)
class HealthChecks:
    """``{service: check}``: each service's check is set whole (``PUT``) unless the
    server's already reads the same (defaults filled, durations compared as seconds).
    A check the file leaves out is not touched."""

    section: str = "healthchecks"

    def apply(self, client: Client, items: Any, *, dry_run: bool) -> list[str]:
        from pydantic import ValidationError  # here: the CLI starts without pydantic

        from scalehook.domain.healthchecks import normalized

        if not isinstance(items, dict):
            raise ClientError(f"{self.section}: write a mapping of service: check")
        lines = []
        for service, check in items.items():
            where = f"{self.section}.{service}"
            if not isinstance(check, dict):
                raise ClientError(f"{where}: a health check is a mapping of its fields")
            try:
                wanted = normalized(check)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"])
                message = str(first["msg"]).removeprefix("Value error, ")
                raise ClientError(f"{where}.{field}: {message}") from exc
            lines.append(self._one(client, str(service), wanted, where=where, dry_run=dry_run))
        return lines

    @staticmethod
    def _one(
        client: Client, service: str, wanted: dict[str, Any], *, where: str, dry_run: bool
    ) -> str:
        from scalehook.domain.healthchecks import normalized

        path = f"/v1/services/{service}/healthcheck"
        label = f"health check of {service}"
        try:
            current = client.get(path)
        except ClientError as exc:
            if exc.status != 404 or "no health check" not in str(exc):
                raise ClientError(f"{where}: {exc}", status=exc.status) from exc
            current = None
        if current is not None and current.get("source") == "api":
            if normalized(current["check"]) == wanted:
                return f"{label}: unchanged"
            changed = sorted(k for k, v in wanted.items() if current["check"].get(k) != v)
            if dry_run:
                return f"{label}: would be updated ({', '.join(changed)})"
            NamedResource._send(client, "PUT", path, wanted, where)
            return f"{label}: updated ({', '.join(changed)})"
        if dry_run:
            return f"{label}: would be set"
        NamedResource._send(client, "PUT", path, wanted, where)
        return f"{label}: set"


HEALTHCHECKS = HealthChecks()

APPLIERS: tuple[Applier, ...] = (RECEIVERS, NOTIFICATIONS, POLICIES, HEALTHCHECKS)
"""Every kind of resource a file may declare, applied in this order."""


def read_documents(path: Path) -> list[dict[str, Any]]:
    """The file's documents (``-`` is standard input), each a mapping of sections."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ClientError(f"{path} is not valid YAML or JSON: {exc}") from exc
    known = {a.section for a in APPLIERS}
    for number, document in enumerate(documents, 1):
        if not isinstance(document, dict):
            raise ClientError(f"{path}: document {number} must be a mapping of sections")
        unknown = sorted(set(document) - known)
        if unknown:
            raise ClientError(
                f"{path}: {unknown[0]!r} is not a kind of resource (use {', '.join(sorted(known))})"
            )
    return documents


def apply_documents(
    client: Client, documents: Sequence[Mapping[str, Any]], *, dry_run: bool
) -> list[str]:
    lines: list[str] = []
    for document in documents:
        for applier in APPLIERS:
            if applier.section in document:
                lines += applier.apply(client, document[applier.section], dry_run=dry_run)
    return lines


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="YAML or JSON file of receivers, notifications, ... ('-': standard input)",
)
@click.option("--dry-run", is_flag=True, help="say what would change; change nothing")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@pass_state
def command(state: State, path: Path, dry_run: bool, as_json: bool) -> None:
    """Create or update, by name, what FILE declares (idempotent: a file can live in git)."""
    lines = apply_documents(state.client, read_documents(path), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(lines, indent=2))
    else:
        for line in lines:
            click.echo(line)
