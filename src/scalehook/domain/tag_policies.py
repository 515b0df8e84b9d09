"""Tag policies: may a pushed tag replace the tag a service runs?

Rancher upgraded on one exact tag only and Keel's patterns ignore order; users asked
for versions, patterns and "redeploy the same tag when it was rebuilt". A policy is
written as one string in a receiver's config:

- ``semver`` (or ``semver:any``): any higher version; ``semver:same-major`` and
  ``semver:same-minor`` stay within the running major (or major.minor). How a tag reads
  as a version is in ``versions``. Three rules keep a service on its line: a
  pre-release is taken only when the service already runs one (``2.0.0-rc1`` never
  replaces ``1.9``); the variant never changes (``1.25-alpine`` takes ``1.26-alpine``,
  never ``1.26`` or ``1.26-bookworm``: a silent switch of the base image); and a date
  version (CalVer, ``2024.01.05``) only replaces a date version, where same-major means
  the same year and same-minor the same year and month.
- ``exact:<tag>`` (or just ``<tag>``): only that tag.
- ``glob:<pattern>`` (``*``, ``?``, ``[...]``) and ``regexp:<re>`` (whole tag): any
  matching tag; patterns say nothing about order, so the latest push wins.
- ``force``: the running tag again, when it was rebuilt (a new digest, or a digest the
  registry did not send).

Whatever the policy, a push of the running tag with the running digest changes nothing.
Everything here is pure, so the rules are pinned down by property tests.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scalehook.domain.images import valid_tag
from scalehook.domain.versions import Version

__all__ = ["TagPolicy", "Verdict", "Version"]

Kind = Literal["semver", "exact", "glob", "regexp", "force"]
Scope = Literal["any", "same-major", "same-minor"]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class TagPolicy:
    kind: Kind
    argument: str = ""
    scope: Scope = "any"

    @classmethod
    def parse(cls, text: str) -> TagPolicy:
        """Read a policy string; ``ValueError`` with a message a user can act on."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a tag policy cannot be empty; use e.g. 'semver' or 'exact:1.2'")
        head, sep, argument = text.partition(":")
        if head == "semver":
            scope = argument if sep else "any"
            if scope not in ("any", "same-major", "same-minor"):
                raise ValueError(
                    f"{text!r}: write 'semver', 'semver:same-major' or 'semver:same-minor'"
                )
            return cls("semver", scope=scope)  # type: ignore[arg-type]
        if head == "force":
            if sep:
                raise ValueError("'force' takes no argument: it redeploys the running tag")
            return cls("force")
        if head == "glob" and sep:
            if not argument:
                raise ValueError("'glob:' needs a pattern, e.g. 'glob:release-*'")
            return cls("glob", argument)
        if head == "regexp" and sep:
            try:
                re.compile(argument)
            except re.error as exc:
                raise ValueError(f"{text!r}: not a regular expression: {exc}") from exc
            if not argument:
                raise ValueError("'regexp:' needs an expression, e.g. 'regexp:^v[0-9]+$'")
            return cls("regexp", argument)
        tag = argument if head == "exact" and sep else text
        if not valid_tag(tag):
            raise ValueError(
                f"{text!r} is not a tag policy: use semver, semver:same-major, "
                "semver:same-minor, exact:<tag>, glob:<pattern>, regexp:<re> or force"
            )
        return cls("exact", tag)

    def __str__(self) -> str:
        if self.kind == "semver":
            return "semver" if self.scope == "any" else f"semver:{self.scope}"
        if self.kind == "force":
            return "force"
        return f"{self.kind}:{self.argument}"

    def allows(
        self,
        *,
        current: str | None,
        current_digest: str | None,
        tag: str,
        digest: str | None,
    ) -> Verdict:
        """May ``tag`` (with ``digest``, if the registry sent one) replace ``current``?"""
        if tag == current:
            return self._same_tag(tag, current_digest, digest)
        if self.kind == "force":
            return Verdict(False, f"force redeploys only the running tag {current!r}, not {tag!r}")
        if self.kind == "exact":
            if tag == self.argument:
                return Verdict(True, f"{tag!r} is the tag this receiver deploys")
            return Verdict(False, f"only tag {self.argument!r} is deployed, not {tag!r}")
        if self.kind == "glob":
            if fnmatch.fnmatchcase(tag, self.argument):
                return Verdict(True, f"{tag!r} matches {self.argument!r}")
            return Verdict(False, f"{tag!r} does not match {self.argument!r}")
        if self.kind == "regexp":
            if re.fullmatch(self.argument, tag):
                return Verdict(True, f"{tag!r} matches /{self.argument}/")
            return Verdict(False, f"{tag!r} does not match /{self.argument}/")
        return self._semver(current, tag)

    def _same_tag(self, tag: str, current_digest: str | None, digest: str | None) -> Verdict:
        if current_digest is not None and digest is not None:
            if current_digest == digest:
                return Verdict(False, f"already runs {tag!r} at that digest")
            return Verdict(True, f"{tag!r} was rebuilt: new digest")
        if self.kind == "force":
            return Verdict(True, f"{tag!r} pushed again: redeploy")
        return Verdict(False, f"already runs {tag!r} (use the force policy to redeploy a tag)")

    def _semver(self, current: str | None, tag: str) -> Verdict:
        new = Version.parse(tag)
        if new is None:
            return Verdict(False, f"{tag!r} is not a version")
        old = Version.parse(current) if current is not None else None
        if old is None:
            return Verdict(
                False, f"the running tag {current!r} is not a version, so {tag!r} cannot be newer"
            )
        if new.variant != old.variant:
            if old.variant:
                return Verdict(False, f"{tag!r} is not an -{old.variant} tag")
            return Verdict(
                False, f"{tag!r} is an -{new.variant} tag and {current!r} has no variant"
            )
        if new.calendar != old.calendar:
            if new.calendar:
                return Verdict(False, f"{tag!r} is a date version and {current!r} is not")
            return Verdict(False, f"{tag!r} is not a date version and {current!r} is")
        if new <= old:
            return Verdict(False, f"{tag!r} is not newer than {current!r}")
        if new.prerelease and not old.prerelease:
            return Verdict(False, f"{tag!r} is a pre-release and {current!r} is not")
        if self.scope in ("same-major", "same-minor") and new.major != old.major:
            if old.calendar:
                return Verdict(False, f"{tag!r} leaves the year {old.major}")
            return Verdict(False, f"{tag!r} leaves major version {old.major}")
        if self.scope == "same-minor" and new.minor != old.minor:
            if old.calendar:
                return Verdict(False, f"{tag!r} leaves the month {old.major}.{old.minor:02d}")
            return Verdict(False, f"{tag!r} leaves {old.major}.{old.minor}")
        return Verdict(True, f"{tag!r} is newer than {current!r}")

    def best(self, tags: Sequence[str]) -> str:
        """The tag to deploy among several allowed ones of one push: the highest version
        under semver, else the last one announced."""
        if not tags:
            raise ValueError("no tags to choose from")
        if self.kind == "semver":
            versions = [(Version.parse(t), i, t) for i, t in enumerate(tags)]
            ranked = [(v, i, t) for v, i, t in versions if v is not None]
            if ranked:
                return max(ranked, key=lambda item: (item[0], item[1]))[2]
        return tags[-1]
