"""AWS through boto3: clients with explicit credentials, boto3's own retries (standard mode),
paging by a next-token field with a loop guard, and botocore's errors translated into the
CollectorError tree, naming the provider and the operation, never a key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorRateLimited,
    CollectorUnavailable,
)

if TYPE_CHECKING:
    from boto3.session import Session
    from botocore.client import BaseClient

MAX_ATTEMPTS = 4  # boto3 standard mode: the first try and three retries
PageHook = Callable[[str], None]

_THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "LimitExceededException", "TooManyRequestsException"}
)
_REFUSED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def aws_session(access_key_id: str, secret_access_key: str) -> Session:
    """A boto3 session with explicit credentials, never the ambient AWS chain (Cost Explorer
    bills every request). Clients made from one session share its loaded service data, so the
    second and later take a fraction of the first's time."""
    import boto3  # a quarter second to import: only runs that use Bedrock pay for it

    return boto3.session.Session(
        aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key
    )


def aws_client(
    service: str,
    access_key_id: str,
    secret_access_key: str,
    *,
    region: str,
    endpoint_url: str = "",
    timeout: float = 30.0,
    session: Session | None = None,
) -> BaseClient:
    """A boto3 client with standard-mode retries and timeouts, from `session` or a new one
    with these credentials."""
    from botocore.config import Config

    session = session or aws_session(access_key_id, secret_access_key)
    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        user_agent_extra="aispend",
    )
    client: BaseClient = session.client(  # type: ignore[call-overload]
        service, region_name=region, endpoint_url=endpoint_url or None, config=config
    )
    return client


@dataclass
class AwsCalls:
    """One boto3 client, the count of requests it sent (each Cost Explorer one is billed),
    and error translation. `on_page` is told the provider after each answer."""

    client: BaseClient
    provider: str
    on_page: PageHook | None = None
    requests: int = 0

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(self.client, _snake(operation))
        self.requests += 1
        try:
            answer: dict[str, Any] = dict(method(**params))
        except ClientError as e:
            raise translate_client_error(self.provider, operation, e) from e
        except BotoCoreError as e:
            raise translate_botocore_error(self.provider, operation, e) from e
        if self.on_page is not None:
            self.on_page(self.provider)
        return answer

    def pages(
        self, operation: str, params: dict[str, Any], *, token: str = "NextPageToken"
    ) -> Iterator[dict[str, Any]]:
        """Every page, re-sending identical parameters with each next token (Cost Explorer
        answers RequestChangedException otherwise); a token seen twice stops with an error."""
        seen: set[str] = set()
        query = dict(params)
        while True:
            page = self.call(operation, query)
            yield page
            cursor = page.get(token)
            if not cursor:
                return
            if cursor in seen:
                raise CollectorDataError(self.provider, f"{operation} repeated its {token}")
            seen.add(cursor)
            query[token] = cursor


def translate_client_error(provider: str, operation: str, error: ClientError) -> CollectorError:
    """An error AWS answered, as our error tree: the code, and AWS's message only when it
    cannot be about the credentials."""
    details = error.response.get("Error", {})
    code = str(details.get("Code", "") or "Unknown")
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    where = f"{operation} answered {code}"
    if code in _THROTTLED:
        return CollectorRateLimited(provider, f"{where} after every retry", retry_after=None)
    if code in _REFUSED or status in (401, 403):
        return CollectorAuthError(provider, f"{where}: the credentials were refused")
    if status >= 500:
        return CollectorUnavailable(provider, f"{where} ({status}) after every retry")
    message = str(details.get("Message", ""))[:200]
    return CollectorError(provider, f"{where}: {message}" if message else where)


def translate_botocore_error(provider: str, operation: str, error: BotoCoreError) -> CollectorError:
    if isinstance(error, NoCredentialsError):
        return CollectorAuthError(provider, f"{operation}: no credentials")
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return CollectorUnavailable(provider, f"{operation} timed out after every retry")
    return CollectorUnavailable(provider, f"{operation}: {type(error).__name__}")


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
