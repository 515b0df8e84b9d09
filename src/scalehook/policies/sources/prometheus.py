"""``prometheus``: one PromQL instant query (``/api/v1/query``), a service-wide value.

The query must give one number: a scalar, or a vector of exactly one sample. Anything
else is an error saying why, never 0: no series (nothing matches, or the series went
stale: Prometheus drops a series whose target stopped being scraped), several series
(aggregate them, e.g. ``sum(...)``), NaN or an infinity, a range vector, Prometheus
unreachable or refusing. A query Prometheus rejects as malformed (``bad_data``) is
refused at create, naming the metric's ``query``; a Prometheus that is down then is
only a warning. Equal queries at one URL are sent once per batch of policies.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import httpx

from scalehook.config import PrometheusSettings
from scalehook.errors import InvalidRequest
from scalehook.policies.rules import Reading
from scalehook.policies.sources.base import MetricSource, Scaled, SourcedMetric, SourceError

_CONCURRENT = 32  # connections per Prometheus


class PrometheusSource(MetricSource):
    name = "prometheus"

    def __init__(self, settings: PrometheusSettings | None) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    def url_of(self, metric: SourcedMetric) -> str | None:
        url = metric.url or (self.settings.url if self.settings else None)
        return None if url is None else url.rstrip("/")

    def key(self, metric: SourcedMetric, target: Scaled) -> Hashable:
        return ("prometheus", self.url_of(metric), metric.query)

    async def fetch(self, key: Hashable, target: Scaled) -> object:
        assert isinstance(key, tuple)
        _, url, query = key
        if url is None:
            raise SourceError("no Prometheus: set prometheus.url in scalehook.yaml or a url")
        return await self.query(url, str(query))

    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        assert isinstance(fetched, float)
        return Reading(name=metric.name, value=fetched)

    async def query(self, url: str, query: str) -> float:
        """The one number ``query`` gives now, or ``SourceError`` saying why not."""
        client = self._http()
        try:
            response = await client.get(f"{url}/api/v1/query", params={"query": query})
        except httpx.TimeoutException as exc:
            raise SourceError(f"Prometheus at {url} did not answer in time ({exc!r})") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"Prometheus at {url} cannot be reached: {exc}") from exc
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise SourceError(
                f"Prometheus at {url} answered {response.status_code} without JSON"
            ) from exc
        if not isinstance(body, dict):
            raise SourceError(f"Prometheus at {url} answered {response.status_code}: not an object")
        if body.get("status") != "success":
            kind, error = body.get("errorType", ""), body.get("error", "no reason given")
            raise SourceError(
                f"Prometheus refused the query ({response.status_code} {kind}): {error}",
                rejected=kind == "bad_data",
            )
        return one_value(body.get("data"))

    async def check(self, metric: SourcedMetric, target: Scaled, *, field: str) -> list[str]:
        if not metric.query or not metric.query.strip():
            raise InvalidRequest(
                f"{field}.query: a prometheus metric needs a query", field=f"{field}.query"
            )
        url = self.url_of(metric)
        if url is None:
            raise InvalidRequest(
                f"{field}.url: no Prometheus to ask: give the metric a url, or set "
                "prometheus.url in scalehook.yaml",
                field=f"{field}.url",
            )
        try:
            await self.query(url, metric.query)
        except SourceError as exc:
            if exc.rejected:
                raise InvalidRequest(
                    f"{field}.query: {exc.message}", field=f"{field}.query"
                ) from exc
            return [
                f"{field} ({metric.name}): {exc.message}; the policy holds while it cannot be read"
            ]
        return []

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = self.settings.timeout if self.settings else 5.0
            self._client = httpx.AsyncClient(
                timeout=timeout,
                limits=httpx.Limits(
                    max_connections=_CONCURRENT, max_keepalive_connections=_CONCURRENT
                ),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def one_value(data: object) -> float:
    """The number of a query's ``data``: a scalar, or a vector of one sample."""
    if not isinstance(data, dict):
        raise SourceError("Prometheus's answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        text = result[1]
    elif kind == "vector" and isinstance(result, list):
        if not result:
            raise SourceError(
                "the query returned no series: nothing matches it, or its series went stale "
                "(a target that is no longer scraped); a policy holds rather than read it as 0"
            )
        if len(result) > 1:
            raise SourceError(
                f"the query returned {len(result)} series; a policy needs one value: "
                "aggregate them, e.g. sum(...) or max(...)"
            )
        sample = result[0].get("value") if isinstance(result[0], dict) else None
        if not isinstance(sample, list) or len(sample) != 2:
            raise SourceError("Prometheus's vector sample has no value")
        text = sample[1]
    elif kind == "matrix":
        raise SourceError(
            "the query returned a range vector; write an instant one (no [5m] at the end)"
        )
    else:
        raise SourceError(f"the query returned a {kind}, not a number")
    try:
        value = float(text)
    except (TypeError, ValueError) as exc:
        raise SourceError(f"Prometheus's value {text!r} is not a number") from exc
    if math.isnan(value):
        raise SourceError("the query's value is NaN (e.g. a division by zero in a rate)")
    if math.isinf(value):
        raise SourceError(f"the query's value is {value}")
    return value
