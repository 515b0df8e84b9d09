"""Where each setting comes from: the file (with its line), the environment, the command line.

``scalehook.yaml`` is read keeping the line of every value. Over it go the variables
``SCALEHOOK_<PATH>`` (``__`` between levels: ``SCALEHOOK_SERVER__PORT`` is
``server.port``) and ``SCALEHOOK_<PATH>_FILE`` (the setting is the named file's content,
stripped: Docker and systemd secrets); over those, the command line. A variable replaces
what the file says at its path. ``Origins`` remembers where each path came from, so an
error names the line or the variable: ``scalehook.yaml:12: services.web.replicas: ...``,
``SCALEHOOK_SERVER__PORT: server.port: ...``.

A value from the environment is read as YAML (``9000``, ``true``, ``null``,
``["10.0.0.1"]``, ``{"rate": 5}``) unless the setting is text, which takes it as
written (a password ``123456`` stays text). An empty variable counts as unset.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

PREFIX = "SCALEHOOK_"
FILE_SUFFIX = "_FILE"

RESERVED: Mapping[str, str] = {
    "SCALEHOOK_ADMIN_TOKEN": "the admin token (auth.py)",
    "SCALEHOOK_ADMIN_TOKEN_FILE": "the admin token's file (auth.py)",
    "SCALEHOOK_URL": "the CLI's server URL",
    "SCALEHOOK_TOKEN": "the CLI's admin token",
    "SCALEHOOK_SERVICE": "a local replica's service (set for replicas)",
    "SCALEHOOK_REPLICA": "a local replica's id (set for replicas)",
    "SCALEHOOK_IMAGE": "deploy/stack.yml and compose.yml: the image",
    "SCALEHOOK_PORT": "deploy/stack.yml and compose.yml: the published port",
    "SCALEHOOK_USER": "deploy/stack.yml and compose.yml: the user",
    "SCALEHOOK_ADMIN_SECRET": "deploy/stack.yml: the Docker secret's name",
    "SCALEHOOK_ADMIN_TOKEN_PATH": "deploy/compose.yml: the token file",
    "SCALEHOOK_IMAGE_BASE": "scripts/image: the base image",
    "SCALEHOOK_IMAGE_SUITE": "scripts/image: the Debian suite",
    "SCALEHOOK_DEMO_PORT": "scripts/demo: the API port",
    "SCALEHOOK_UI_SHOTS": "tests/ui: the folder that keeps the screenshots",
    "SCALEHOOK_TEST_DATABASE": "the tests: every ServerProcess on PostgreSQL (testing_postgres.py)",
}
"""``SCALEHOOK_*`` variables that are not settings: read elsewhere, or by other tools."""

Loc = tuple[str, ...]


@dataclass
class Layers:
    """The raw settings tree, where each part of it came from, and what could not be read."""

    raw: dict[str, Any] = field(default_factory=dict)
    origins: dict[Loc, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    file: str | None = None

    def set(self, loc: Loc, value: Any, origin: str) -> None:
        """Put ``value`` at ``loc`` (replacing what was there), from ``origin``."""
        node = self.raw
        for i, part in enumerate(loc[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
                self._forget(loc[: i + 1])
            node = child
        node[loc[-1]] = value
        self._forget(loc)
        self.origins[loc] = origin

    def _forget(self, loc: Loc) -> None:
        for known in [k for k in self.origins if k[: len(loc)] == loc]:
            del self.origins[known]

    def origin(self, loc: Loc) -> str:
        """Where the value at ``loc`` came from: its own origin, else that of something
        under it (a variable deeper than a name that is not a setting), else the
        nearest part around it (a required setting that is missing)."""
        if loc and loc not in self.origins:
            under = sorted(k for k in self.origins if k[: len(loc)] == loc)
            if under:
                return self.origins[under[0]]
        for end in range(len(loc), 0, -1):
            found = self.origins.get(loc[:end])
            if found is not None:
                return found
        return self.file or "settings"

    def data_path(self, loc: tuple[int | str, ...]) -> Loc:
        """A validation error's location in the raw tree: pydantic adds the tag of a
        tagged union (``backends.box.docker.timeout``), which the data does not have."""
        node: Any = self.raw
        path: list[str] = []
        for i, part in enumerate(loc):
            text = str(part)
            if isinstance(node, dict):
                if text in node:
                    node = node[text]
                elif i + 1 < len(loc) and node.get("type") == text:
                    continue  # the union's tag
                else:
                    node = None
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = None
            path.append(text)
        return tuple(path)


# the file ---------------------------------------------------------------------------


def read_file(path: Path, layers: Layers) -> None:
    """Read ``scalehook.yaml`` into ``layers``, with the line of every value."""
    shown = str(path)
    layers.file = shown
    try:
        text = path.read_text()
    except OSError as exc:
        layers.problems.append(f"cannot read {shown}: {exc.strerror or exc}")
        return
    try:
        loaded = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        layers.problems.append(f"{shown} is not valid YAML: {exc}")
        return
    if loaded is None:
        return
    if not isinstance(loaded, dict):
        layers.problems.append(f"{shown} must hold a mapping at the top")
        return
    layers.raw = loaded
    _lines(node, (), shown, layers.origins)


def _lines(node: yaml.Node | None, loc: Loc, shown: str, origins: dict[Loc, str]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*loc, str(key.value))
            origins[here] = f"{shown}:{key.start_mark.line + 1}"
            _lines(value, here, shown, origins)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*loc, str(index))
            origins[here] = f"{shown}:{item.start_mark.line + 1}"
            _lines(item, here, shown, origins)


# the environment --------------------------------------------------------------------


def read_environment(env: Mapping[str, str], model: type[BaseModel], layers: Layers) -> None:
    """Lay every ``SCALEHOOK_*`` setting variable of ``env`` over ``layers``."""
    found: dict[Loc, tuple[str, Any]] = {}
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in RESERVED or not env[name]:
            continue
        rest = name[len(PREFIX) :]
        from_file = rest.endswith(FILE_SUFFIX) and not is_setting(model, _loc(rest))
        if from_file:
            rest = rest[: -len(FILE_SUFFIX)]
        loc = _loc(rest)
        if not all(loc):
            layers.problems.append(f"{name}: an empty name between '__' (write SCALEHOOK_A__B)")
            continue
        if from_file:
            value: str | None = _file_value(name, env[name], layers)
            if value is None:
                continue
        else:
            value = env[name]
        if loc in found:
            other = found[loc][0]
            layers.problems.append(f"give {other} or {name}, not both")
            continue
        found[loc] = (name, parse_value(value, as_text=is_text(model, loc)))
    for loc in sorted(found, key=len):
        name, value = found[loc]
        parents = [found[loc[:end]][0] for end in range(1, len(loc)) if loc[:end] in found]
        parent = parents[-1] if parents else None
        if parent is not None and not isinstance(_at(layers.raw, loc[:-1]), dict):
            layers.problems.append(f"{name}: {parent} does not hold a mapping to put it in")
            continue
        layers.set(loc, value, name)


def _loc(rest: str) -> Loc:
    return tuple(part.lower() for part in rest.split("__"))


def _at(tree: Any, loc: Loc) -> Any:
    for part in loc:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _file_value(name: str, path: str, layers: Layers) -> str | None:
    """The content of a ``_FILE`` variable's file, stripped; never the content in an error."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        layers.problems.append(f"{name}={path}: cannot read it: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError:
        layers.problems.append(f"{name}={path}: the file is not UTF-8 text")
        return None
    if not text:
        layers.problems.append(f"{name}={path}: the file is empty")
        return None
    return text


def parse_value(text: str, *, as_text: bool) -> Any:
    """A variable's value: as written for a text setting, else read as YAML."""
    if as_text:
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # validation says what is wrong with it


# what the settings model says of a path ---------------------------------------------


def _strip(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    tp = _strip(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in _members(arg) if m is not type(None)]
    return [tp]


def leaves(tp: Any, loc: Loc) -> list[Any]:
    """The types a value at ``loc`` under ``tp`` may have (none: no such setting)."""
    found: list[Any] = []
    for member in _members(tp):
        if not loc:
            found.append(member)
            continue
        head, rest = loc[0], loc[1:]
        if isinstance(member, type) and issubclass(member, BaseModel):
            info = member.model_fields.get(head)
            if info is not None:
                found += leaves(info.annotation, rest)
        elif get_origin(member) is dict:
            found += leaves(get_args(member)[1], rest)
    return found


def is_setting(model: type[BaseModel], loc: Loc) -> bool:
    """Does the settings model have a setting at ``loc``?"""
    return bool(leaves(model, loc))


def _texty(tp: Any) -> bool:
    tp = _strip(tp)
    if tp in (str, Path):
        return True
    if get_origin(tp) is Literal:
        return all(isinstance(v, str) for v in get_args(tp))
    return False


def is_text(model: type[BaseModel], loc: Loc) -> bool:
    """Is the setting at ``loc`` text in every shape it may take?"""
    found = leaves(model, loc)
    return bool(found) and all(_texty(t) for t in found)
