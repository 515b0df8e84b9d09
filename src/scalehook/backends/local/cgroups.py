"""Per-replica cgroups: how the local backend holds its replicas to CPU and memory limits.

Each replica runs in a cgroup of its own, ``<mount>/<parent>/<instance>/<service>/<replica>``
(``parent`` is ``scalehook`` unless set; ``instance`` names this backend and its data
dir, so two scalehooks on one machine never share one). The replica joins it itself,
between fork and exec, so it and everything it starts are held from their first
instruction; a replica that cannot join does not run (it exits 125 and is restarted
with backoff, like any replica that fails). A replica started later, or restarted,
joins its own with the service's limits as they are then.

- **cgroup v2** (one hierarchy with the ``cpu`` and ``memory`` controllers): ``cpu.max``
  and ``memory.max`` (and ``memory.swap.max`` 0, as Docker's ``--memory`` without swap).
  The controllers are enabled down the tree (``cgroup.subtree_control``).
- **cgroup v1** (``cpu`` and ``memory`` mounted as hierarchies of their own, as on this
  project's CI machine): ``cpu.cfs_quota_us``/``cpu.cfs_period_us``, and
  ``memory.limit_in_bytes`` (with ``memory.memsw.limit_in_bytes``, written in the order
  the kernel needs: swap+memory may never be below memory).
- **none**: no hierarchy with both controllers, or none scalehook may write (not root, a
  systemd sandbox): nothing holds replicas to the limits. They are kept and shown as
  asked, with ``enforced: none`` and the reason.

Writes are a few bytes to sysfs each, done in the event loop's turn. A lower memory
limit than a replica uses now: v2 reclaims, then the kernel kills inside the cgroup
(OOM); v1 refuses the write (``EBUSY``), and the change is refused as a whole.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scalehook.domain.resources import Resources, memory_limit

log = logging.getLogger(__name__)

Mode = Literal["cgroup2", "cgroup1", "none"]
PERIOD = 100_000  # microseconds: the CFS period every engine uses
_CONTROLLERS = ("cpu", "memory")


class CgroupError(Exception):
    """A limit the kernel refused (its words), or a cgroup that cannot be made."""


@dataclass(frozen=True, slots=True)
class Mount:
    fstype: str  # cgroup or cgroup2
    path: Path
    options: frozenset[str]  # v1: the controllers it carries


def mounts(mountinfo: str) -> list[Mount]:
    """The cgroup hierarchies of ``/proc/self/mountinfo``."""
    found = []
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] not in ("cgroup", "cgroup2"):
            continue
        path = Path(fields[4].replace("\\040", " "))
        found.append(Mount(rest[0], path, frozenset(rest[2].split(","))))
    return found


def instance_name(backend: str, data_dir: Path) -> str:
    """This backend's directory in a hierarchy: its name, and a hash of its data dir."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:10]
    return f"{backend}-{digest}"


class Cgroups:
    """The cgroups of one local backend's replicas (or none, and why)."""

    def __init__(self, mode: Mode, bases: dict[str, Path], reason: str) -> None:
        self.mode = mode
        self.reason = reason
        self._bases = bases  # controller ("" for v2) -> <mount>/<parent>/<instance>

    @classmethod
    def none(cls, reason: str) -> Cgroups:
        return cls("none", {}, reason)

    @classmethod
    def open(
        cls, *, instance: str, parent: str = "scalehook", mountinfo: str | None = None
    ) -> Cgroups:
        """Find a hierarchy this process may make cgroups in: v2 with both controllers,
        else v1 ``cpu`` and ``memory``; else none, saying why."""
        if mountinfo is None:
            try:
                mountinfo = Path("/proc/self/mountinfo").read_text()
            except OSError as exc:
                return cls.none(f"cannot read /proc/self/mountinfo: {exc.strerror or exc}")
        found = mounts(mountinfo)
        reasons: list[str] = []
        for unified in (m for m in found if m.fstype == "cgroup2"):
            try:
                controllers = set((unified.path / "cgroup.controllers").read_text().split())
            except OSError:
                continue
            if not set(_CONTROLLERS) <= controllers:
                reasons.append(
                    f"{unified.path} (cgroup v2) has no {'/'.join(_CONTROLLERS)} controller"
                )
                continue
            base = unified.path / parent / instance
            try:
                _make_v2(unified.path, base)
            except OSError as exc:
                reasons.append(f"cannot make {base}: {exc.strerror or exc}")
                continue
            return cls("cgroup2", {"": base}, f"cgroup v2 at {base}")
        bases: dict[str, Path] = {}
        for controller in _CONTROLLERS:
            mount = next(
                (m for m in found if m.fstype == "cgroup" and controller in m.options), None
            )
            if mount is None:
                reasons.append(f"no cgroup v1 hierarchy has the {controller} controller")
                break
            base = mount.path / parent / instance
            try:
                base.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                reasons.append(f"cannot make {base}: {exc.strerror or exc}")
                break
            bases[controller] = base
        else:
            where = ", ".join(str(b) for b in bases.values())
            return cls("cgroup1", bases, f"cgroup v1 at {where}")
        return cls.none("; ".join(reasons) or "no cgroup hierarchy is mounted")

    @property
    def enforced(self) -> bool:
        return self.mode != "none"

    def _dirs(self, service: str, replica: str | None = None) -> dict[str, Path]:
        tail = (service,) if replica is None else (service, replica)
        return {c: base.joinpath(*tail) for c, base in self._bases.items()}

    def prepare(self, service: str, replica: str, limits: Resources) -> tuple[str, ...]:
        """Make the replica's cgroup with ``limits``; return the ``cgroup.procs`` files
        its process writes itself into. Raises ``CgroupError``."""
        if not self.enforced:
            return ()
        try:
            for leaf in self._dirs(service, replica).values():
                leaf.parent.mkdir(parents=True, exist_ok=True)
                if self.mode == "cgroup2":
                    _enable(leaf.parent)
                leaf.mkdir(exist_ok=True)
            self.apply(service, replica, limits)
        except OSError as exc:
            raise CgroupError(
                f"cannot make the cgroup of {replica}: {exc.strerror or exc}"
            ) from exc
        return tuple(str(leaf / "cgroup.procs") for leaf in self._dirs(service, replica).values())

    def apply(self, service: str, replica: str, limits: Resources) -> None:
        """Write ``limits`` to the replica's cgroup, if it has one yet. Raises
        ``CgroupError`` with the kernel's reason (v1 refuses a memory limit below what
        the replica uses)."""
        if not self.enforced:
            return
        dirs = self._dirs(service, replica)
        if not all(d.is_dir() for d in dirs.values()):
            return  # not started yet: it starts with the service's limits then
        try:
            if self.mode == "cgroup2":
                leaf = dirs[""]
                _write(leaf / "cpu.max", _cpu_max(limits.cpus))
                _write(leaf / "memory.max", "max" if limits.memory is None else str(limits.memory))
                swap = leaf / "memory.swap.max"
                if swap.exists():
                    _write(swap, "max" if limits.memory is None else "0")
                return
            cpu, memory = dirs["cpu"], dirs["memory"]
            _write(cpu / "cpu.cfs_period_us", str(PERIOD))
            _write(cpu / "cpu.cfs_quota_us", str(_quota(limits.cpus)))
            _write_v1_memory(memory, limits.memory)
        except OSError as exc:
            what = "memory" if "memory" in str(exc.filename or "") else "cpus"
            detail = exc.strerror or str(exc)
            if exc.errno == errno.EBUSY and what == "memory":
                detail = "it uses more than that now, and the kernel could not reclaim enough"
            raise CgroupError(f"{replica}: the kernel refused the {what} limit: {detail}") from exc

    def read(self, service: str, replica: str) -> Resources:
        """The limits the replica's cgroup has (what the kernel holds it to)."""
        if not self.enforced:
            return Resources()
        dirs = self._dirs(service, replica)
        try:
            if self.mode == "cgroup2":
                quota, period = (dirs[""] / "cpu.max").read_text().split()
                cpus = None if quota == "max" else int(quota) / int(period)
                text = (dirs[""] / "memory.max").read_text().strip()
                memory = None if text == "max" else memory_limit(int(text))
            else:
                quota_us = int((dirs["cpu"] / "cpu.cfs_quota_us").read_text())
                period_us = int((dirs["cpu"] / "cpu.cfs_period_us").read_text())
                cpus = None if quota_us < 0 else quota_us / period_us
                memory = memory_limit(int((dirs["memory"] / "memory.limit_in_bytes").read_text()))
        except (OSError, ValueError):
            return Resources()
        return Resources(cpus=None if cpus is None else round(cpus, 3), memory=memory)

    def holds(self, service: str, replica: str, pid: int) -> bool:
        """Is ``pid`` in the replica's cgroup (in every hierarchy)?"""
        for leaf in self._dirs(service, replica).values():
            try:
                if str(pid) not in (leaf / "cgroup.procs").read_text().split():
                    return False
            except OSError:
                return False
        return self.enforced

    def release(self, service: str, replica: str) -> None:
        """Remove the replica's cgroup once its processes are gone (kept if not yet)."""
        for leaf in self._dirs(service, replica).values():
            _rmdir(leaf)

    def sweep(self, keep: Iterable[str] = ()) -> None:
        """Remove every empty cgroup of this instance (what a killed run left), and the
        services' directories but for ``keep``."""
        kept = set(keep)
        for base in self._bases.values():
            if not base.is_dir():
                continue
            for service in [p for p in base.iterdir() if p.is_dir()]:
                for leaf in [p for p in service.iterdir() if p.is_dir()]:
                    _rmdir(leaf)
                if service.name not in kept:
                    _rmdir(service)

    def close(self) -> None:
        """Remove this instance's cgroups (those still holding a process stay)."""
        self.sweep()
        for base in self._bases.values():
            _rmdir(base)
            _rmdir(base.parent)  # the parent, once no other scalehook uses it


def join(procs: Sequence[str]) -> None:  # pragma: no cover - runs in the child, before exec
    """Move the calling process into the cgroups whose ``cgroup.procs`` are given; exit
    125 (after saying why in its log) when the kernel refuses: a replica never runs
    outside its limits."""
    for path in procs:
        try:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as exc:
            os.write(2, f"scalehook: cannot join the cgroup {path}: {exc.strerror}\n".encode())
            os._exit(125)


def _make_v2(mount: Path, base: Path) -> None:
    """Make ``base`` with the cpu and memory controllers enabled from the mount down."""
    base.mkdir(parents=True, exist_ok=True)
    node = mount
    for part in base.relative_to(mount).parts:
        _enable(node)
        node = node / part
    _enable(base)


def _enable(directory: Path) -> None:
    control = directory / "cgroup.subtree_control"
    enabled = set(control.read_text().split())
    missing = [c for c in _CONTROLLERS if c not in enabled]
    if missing:
        _write(control, " ".join(f"+{c}" for c in missing))


def _cpu_max(cpus: float | None) -> str:
    return f"max {PERIOD}" if cpus is None else f"{_quota(cpus)} {PERIOD}"


def _quota(cpus: float | None) -> int:
    return -1 if cpus is None else max(1000, round(cpus * PERIOD))


def _write_v1_memory(directory: Path, memory: int | None) -> None:
    """``memory.limit_in_bytes`` and, with swap accounting, ``memory.memsw.limit_in_bytes``
    (never below the first: raise swap+memory first, lower memory first)."""
    value = "-1" if memory is None else str(memory)
    limit, memsw = directory / "memory.limit_in_bytes", directory / "memory.memsw.limit_in_bytes"
    if not memsw.exists():
        _write(limit, value)
        return
    current = int(limit.read_text())
    raising = memory is None or memory > current
    for path in (memsw, limit) if raising else (limit, memsw):
        _write(path, value)


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _rmdir(path: Path) -> None:
    """Remove a cgroup; one already gone (a replica's, removed when it stopped) is fine."""
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            log.warning("cannot remove the cgroup %s: %s", path, exc.strerror or exc)
