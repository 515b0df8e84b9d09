"""Tags read as versions: numbers, a pre-release, a variant; semantic or calendar.

Docker tags are not semver: ``1.25-alpine`` is version 1.25 of the *alpine variant*,
not a pre-release of 1.25, and ``2024.01.05`` (CalVer) has leading zeros semver forbids.
Policies must keep a service on its variant and order both kinds, so a tag is read as

``[v]NUMBERS[PRE][-VARIANT][+BUILD]``

- ``NUMBERS``: one to four numbers joined by ``.``, compared numerically (``1.10`` >
  ``1.9``; leading zeros allowed: ``24.04``, ``2024.01.05``); missing ones count as 0.
- ``PRE``, a pre-release, sorts before its release. It is glued PEP 440 style
  (``3.13.0rc1``, ``3.14.0a2``), or a ``-`` part that *starts* with a pre-release word or
  a number: ``alpha``, ``beta``, ``rc``, ``pre``, ``preview``, ``dev``, ``snapshot``,
  ``canary``, ``nightly`` (optionally with digits: ``rc1``), ``a``/``b``/``m``/``cr`` with
  digits (``M2``), or digits alone (``-1``); case is ignored. It goes on through
  ``.``-parts (``-rc.1``, ``-beta.2``) and ``-<digits>`` parts (``-alpha-1``).
  Identifiers compare naturally: ``rc9`` < ``rc10``; numbers before words.
- ``VARIANT`` is everything after that, whole and case-sensitive: ``1.25-alpine``,
  ``1.25.3-bookworm``, ``3.19-slim-bookworm``, ``1.26.0-rc.1-alpine`` (pre-release
  ``rc.1``, variant ``alpine``), ``3.13.0rc2-slim-bookworm``, ``2022-CU10-ubuntu-22.04``.
  A suffix whose first part is not a pre-release is a variant.
- A **date version** (CalVer) has at least two numbers and a four-digit first one:
  ``2024.01.05``, ``2024.1``. After a date version, ``-<digits>`` is a *revision*, a
  later build of the same date (``2024.01.05`` < ``2024.01.05-1`` < ``2024.01.06``),
  not a pre-release. ``24.04`` (two-digit year) is ordered the same way but is not told
  apart from ``24.10``, so it counts as an ordinary version.

Everything here is pure; the ordering is total (pinned down by property tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import total_ordering

_PRE_WORDS = "alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly"
_TAG = re.compile(
    r"^v?(?P<numbers>[0-9]{1,18}(?:\.[0-9]{1,18}){0,3})"
    r"(?P<glued>(?:a|b|rc|alpha|beta|dev)[0-9]+)?"
    r"(?:-(?P<suffix>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$",
    re.ASCII,
)
_SUFFIX = re.compile(
    rf"^(?P<pre>(?:(?:{_PRE_WORDS})[0-9]*|(?:a|b|m|cr)[0-9]+|[0-9]+)"
    r"(?:\.[0-9A-Za-z]+)*(?:-[0-9]+(?:\.[0-9A-Za-z]+)*)*)"
    r"(?:-(?P<variant>.+))?$",
    re.ASCII | re.IGNORECASE,
)
_REVISION = re.compile(r"^[0-9]{1,18}$", re.ASCII)
_RUNS = re.compile(r"([0-9]+)|([^0-9]+)", re.ASCII)

# one pre-release identifier, comparable with any other: numbers first, then words by
# their runs of letters and digits ("rc9" < "rc10")
_Ident = tuple[int, int, tuple[tuple[int, int, str], ...]]


@total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A tag read as a version. ``numbers`` has 1 to 4 parts; missing ones count as 0."""

    numbers: tuple[int, ...]
    prerelease: tuple[str, ...] = ()
    variant: str = ""
    revision: int = 0
    calendar: bool = False
    build: str = field(default="", compare=False)

    @classmethod
    def parse(cls, tag: str) -> Version | None:
        """The version a tag names, or None when it names none (``latest``, ``alpine``)."""
        match = _TAG.match(tag)
        if match is None:
            return None
        numbers_text = match["numbers"].split(".")
        numbers = tuple(int(n) for n in numbers_text)
        calendar = len(numbers) >= 2 and len(numbers_text[0]) == 4
        pre: tuple[str, ...] = (match["glued"],) if match["glued"] else ()
        variant, revision = "", 0
        suffix = match["suffix"]
        if suffix:
            if calendar and not pre and _REVISION.match(suffix.split("-", 1)[0]):
                head, _, rest = suffix.partition("-")
                revision, variant = int(head), rest
            elif not pre and (found := _SUFFIX.match(suffix)) is not None:
                pre = tuple(found["pre"].split("."))
                variant = found["variant"] or ""
            else:
                variant = suffix
        return cls(numbers, pre, variant, revision, calendar, match["build"] or "")

    @property
    def major(self) -> int:
        return self.numbers[0]

    @property
    def minor(self) -> int:
        return self.numbers[1] if len(self.numbers) > 1 else 0

    @property
    def patch(self) -> int:
        return self.numbers[2] if len(self.numbers) > 2 else 0

    def _key(
        self,
    ) -> tuple[tuple[int, ...], int, tuple[_Ident, ...], int, bool, str]:
        numbers = self.numbers + (0,) * (4 - len(self.numbers))
        pre = tuple(_ident(part) for part in self.prerelease)
        # a release sorts after its pre-releases (semver.org, item 11)
        return (
            numbers,
            0 if self.prerelease else 1,
            pre,
            self.revision,
            self.calendar,
            self.variant,
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _ident(part: str) -> _Ident:
    if part.isdigit():
        return (0, int(part), ())
    runs = tuple(
        (0, int(digits), "") if digits else (1, 0, letters.lower())
        for digits, letters in _RUNS.findall(part)
    )
    return (1, 0, runs)
