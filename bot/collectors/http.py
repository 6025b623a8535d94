"""The one HTTP client every collector uses: timeouts, bounded retries with backoff that honour
Retry-After (and services' own retry-after headers, such as Azure's
x-ms-ratelimit-...-retry-after), a per-provider request rate, and a loop guard on paging cursors
and next links.

Errors become the CollectorError tree and name the provider and the path, never a header, a
query string or a body that could hold a secret.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorRateLimited,
    CollectorUnavailable,
)

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5  # seconds; doubles each attempt, with jitter
    max_delay: float = 60.0

    def backoff(self, attempt: int, jitter: float) -> float:
        return float(min(self.max_delay, self.base_delay * 2**attempt * (0.5 + jitter)))


@dataclass
class Pacer:
    """At most one request every `interval` seconds for one provider."""

    interval: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _last: float | None = None

    def wait(self) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.sleep(self.interval - (now - self._last))
            now = self.clock()
        self._last = now


@dataclass
class ProviderClient:
    """One provider's base URL, auth headers, pacing and retries over a shared httpx.Client."""

    provider: str
    http: httpx.Client
    base_url: str
    headers: Mapping[str, str]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    pacer: Pacer = field(default_factory=lambda: Pacer(0.0))
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    requests: int = 0  # how many HTTP requests this client has sent
    on_page: Callable[[str], None] | None = None  # told the provider after each good answer

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET and decode a JSON object, retrying what is worth retrying."""
        return self._retried("GET", path, params, None)

    def post_json(
        self, path: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST a JSON body and decode the JSON object answered (a 204 is an empty object);
        `path` may also be a full URL on the base URL's own host (a next link)."""
        return self._retried("POST", path, params, body)

    def linked_pages(
        self,
        path: str,
        params: Mapping[str, Any],
        body: Mapping[str, Any],
        next_link: Callable[[dict[str, Any]], str | None],
    ) -> Iterator[dict[str, Any]]:
        """Every page of a POSTed query whose answers name the next page's full URL (Azure's
        nextLink): the same body goes to each link. A link seen twice, or one to another
        host (it would be sent our credentials), stops with an error."""
        seen: set[str] = set()
        page = self.post_json(path, body, params)
        while True:
            yield page
            link = next_link(page)
            if not link:
                return
            if link in seen:
                raise CollectorDataError(self.provider, f"{path} repeated its next link")
            if not _same_origin(link, self.base_url):
                raise CollectorDataError(self.provider, f"{path} linked to another host")
            seen.add(link)
            page = self.post_json(link, body)

    def _retried(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        last: CollectorError | None = None
        for attempt in range(self.policy.attempts):
            if attempt:
                self.sleep(self._delay(attempt, last))
            try:
                answer = self._once(method, path, params, body)
            except (CollectorRateLimited, CollectorUnavailable) as e:
                last = e
                continue
            if self.on_page is not None:
                self.on_page(self.provider)
            return answer
        assert last is not None
        raise last

    def pages(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        cursor_param: str = "page",
        next_field: str = "next_page",
        more_field: str = "has_more",
    ) -> Iterator[dict[str, Any]]:
        """Every page of a cursor-paged list; a cursor seen twice stops with an error."""
        seen: set[str] = set()
        query = dict(params)
        while True:
            page = self.get_json(path, query)
            yield page
            cursor = page.get(next_field)
            if not page.get(more_field) or not cursor:
                return
            if cursor in seen:
                raise CollectorDataError(self.provider, f"{path} repeated page cursor {cursor!r}")
            seen.add(cursor)
            query[cursor_param] = cursor

    def parsed(
        self,
        path: str,
        params: Mapping[str, Any],
        parse: Callable[[dict[str, Any]], list[T]],
        *,
        cursor_param: str = "page",
        next_field: str = "next_page",
    ) -> list[T]:
        """Everything `parse` reads from every page of a cursor-paged list."""
        pages = self.pages(path, params, cursor_param=cursor_param, next_field=next_field)
        return [item for page in pages for item in parse(page)]

    def _delay(self, attempt: int, error: CollectorError | None) -> float:
        if isinstance(error, CollectorRateLimited) and error.retry_after is not None:
            return min(error.retry_after, self.policy.max_delay)
        return self.policy.backoff(attempt - 1, self.jitter())

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        payload: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.pacer.wait()
        self.requests += 1
        url = path if _is_url(path) else self.base_url + path
        path = urlsplit(url).path if _is_url(path) else path  # errors never show a query
        try:
            response = self.http.request(
                method, url, params=params, json=payload, headers=dict(self.headers)
            )
            body = response.content
        except httpx.TimeoutException as e:
            raise CollectorUnavailable(self.provider, f"{path} timed out") from e
        except httpx.TransportError as e:
            raise CollectorUnavailable(self.provider, f"{path}: {type(e).__name__}") from e
        return self._decoded(path, response, body)

    def _decoded(self, path: str, response: httpx.Response, body: bytes) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            raise CollectorAuthError(self.provider, f"{path} refused the credentials ({status})")
        if status == 429:
            raise CollectorRateLimited(
                self.provider, f"{path} is rate limited (429)", retry_after=_retry_after(response)
            )
        if status in RETRY_STATUSES:
            raise CollectorUnavailable(self.provider, f"{path} answered {status}")
        if status >= 400:
            raise CollectorError(self.provider, f"{path} answered {status}: {_message(body)}")
        if status == 204:
            return {}
        try:
            decoded = json.loads(body)
        except ValueError as e:
            raise CollectorUnavailable(self.provider, f"{path} sent an unreadable body") from e
        if not isinstance(decoded, dict):
            raise CollectorDataError(
                self.provider, f"{path} sent {type(decoded).__name__}, not an object"
            )
        return decoded


def make_http_client() -> httpx.Client:
    """The shared client: explicit timeouts, no environment proxies, a clear user agent."""
    return httpx.Client(timeout=TIMEOUT, trust_env=False, headers={"User-Agent": "aispend"})


def _is_url(path: str) -> bool:
    return path.startswith(("https://", "http://"))


def _same_origin(url: str, base_url: str) -> bool:
    link, base = urlsplit(url), urlsplit(base_url)
    return (link.scheme, link.netloc.lower()) == (base.scheme, base.netloc.lower())


def _retry_after(response: httpx.Response) -> float | None:
    """How long the service asks us to wait: the longest of Retry-After and any
    x-ms-ratelimit-*-retry-after header (Azure's, in seconds), or None when none is given."""
    waits = [
        seconds
        for name, value in response.headers.items()
        if name.lower() == "retry-after"
        or (name.lower().startswith("x-ms-ratelimit-") and name.lower().endswith("-retry-after"))
        if (seconds := _seconds(value)) is not None
    ]
    return max(waits, default=None)


def _seconds(value: str) -> float | None:
    """A retry-after value as seconds, from a number or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _message(body: bytes) -> str:
    """The provider's own error message (OpenAI and Anthropic both nest it under `error`)."""
    try:
        error = json.loads(body).get("error", {})
        return str(error.get("message", ""))[:200] if isinstance(error, dict) else ""
    except (ValueError, AttributeError):
        return ""
