"""The one error tree of aispend.

    AispendError
      ConfigError        a bad setting or aispend.toml value; names the field and the file
      UsageError         bad words from a person (command line or /aispend); message is shown as is
      InputError         a bad line of ingested input; carries the line number and the reason
      StoreError         the store is missing, too old, or refused a write
      PricingError       a price override that cannot be applied
      CollectorError     a provider API call failed; names the provider, never a secret
        CollectorAuthError      the key was refused (401/403); not retried
        CollectorRateLimited    still 429 after every retry; carries retry_after
        CollectorUnavailable    5xx, timeouts, resets or truncated bodies after every retry
        CollectorDataError      the answer did not have the documented shape
      SlackError         a Slack Web API call failed; names the method and Slack's error code
        SlackAuthError          the token was refused or lacks a scope; nothing will work
        SlackRateLimited        429; carries retry_after
        SlackUnavailable        5xx, timeouts and resets: it may or may not have taken effect
        SlackRejected           Slack refused this one call (bad channel, bad blocks); final

Each layer translates the errors of the libraries it uses into these at its boundary and
re-raises `from` the original, so a traceback is never lost.
"""

from __future__ import annotations


class AispendError(Exception):
    """Root of every error aispend raises on purpose."""


class ConfigError(AispendError):
    """A setting or an aispend.toml value is wrong; the message names the field and the file."""


class UsageError(AispendError):
    """Bad words from a person. `suggestion` is the closest valid word, when there is one."""

    def __init__(self, message: str, *, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


class InputError(AispendError):
    """One bad record of ingested input."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line


class StoreError(AispendError):
    """The store is unreachable, not migrated, or refused a write."""


class PricingError(AispendError):
    """A price override or discount in aispend.toml cannot be applied."""


class CollectorError(AispendError):
    """A provider API call failed. The message names the provider and never holds a secret."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class CollectorAuthError(CollectorError):
    """The provider refused the credentials (401 or 403)."""


class CollectorRateLimited(CollectorError):
    """The provider kept answering 429 after every retry."""

    def __init__(self, provider: str, message: str, *, retry_after: float | None) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class CollectorUnavailable(CollectorError):
    """Server errors, timeouts, resets or truncated bodies outlasted every retry."""


class CollectorDataError(CollectorError):
    """The provider answered, but not in the documented shape (or looped its page cursor)."""


class SlackError(AispendError):
    """A Slack Web API call failed. The message names the method and Slack's error code."""

    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"slack {method}: {code}")
        self.method = method
        self.code = code


class SlackAuthError(SlackError):
    """The token was refused or lacks a scope: every later call would fail the same way."""


class SlackRateLimited(SlackError):
    """Slack answered 429; try again after `retry_after` seconds."""

    def __init__(self, method: str, code: str, *, retry_after: float) -> None:
        super().__init__(method, code)
        self.retry_after = retry_after


class SlackUnavailable(SlackError):
    """A server error, timeout or reset: the call may or may not have taken effect."""


class SlackRejected(SlackError):
    """Slack refused this call for good (channel_not_found, invalid_blocks, ...)."""
