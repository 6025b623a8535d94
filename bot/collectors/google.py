"""Google Vertex AI and the Gemini API: spend from the Cloud Billing export in BigQuery.

One parameterized query over the export table (providers.md section 4.3) for the window: a
partition filter and an invoice month bound so little is scanned, AI services only, grouped by
UTC day, project, service, SKU, the team label, currency and unit, with the gross cost summed
as NUMERIC (exact) and every credit kept (ARRAY_CONCAT_AGG) so they can be summed apart. The
rows go through google_billing.cost_lines. The query runs through google-cloud-bigquery
(jobs.insert, then jobs.getQueryResults page by page), whose endpoint is configurable, with
its own retries on rateLimitExceeded, 429 and 5xx, bounded here by a deadline. Errors become
the CollectorError tree and never carry a credential.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import google.auth
import requests
from google.api_core import exceptions as api_errors
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_errors
from google.auth.credentials import Credentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from bot.collectors.google_billing import (
    AI_SERVICES,
    PROVIDER,
    SOURCE,
    BillingCredit,
    BillingRow,
    BillingRowError,
    cost_lines,
    parse_decimal,
)
from bot.config import Settings
from bot.domain import CostLine
from bot.errors import (
    CollectorAuthError,
    CollectorDataError,
    CollectorError,
    CollectorRateLimited,
    CollectorUnavailable,
    ConfigError,
)

SCOPES = ("https://www.googleapis.com/auth/bigquery",)  # jobs.insert needs more than readonly
PAGE_SIZE = 10_000  # rows per getQueryResults page
TIMEOUT = 60.0  # seconds per HTTP request
_TABLE_ID = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")
_RATE_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded"})
_LIBRARY_ERRORS = (
    api_errors.GoogleAPIError,
    auth_errors.GoogleAuthError,
    requests.RequestException,
    concurrent.futures.TimeoutError,
)

QUERY = """
SELECT
  DATE(usage_start_time) AS usage_day,
  project.id AS project_id,
  service.description AS service,
  TRIM(sku.description) AS sku,
  (SELECT value FROM UNNEST(labels) WHERE key = @label_key LIMIT 1) AS label_value,
  currency,
  currency_conversion_rate,
  usage.unit AS usage_unit,
  SUM(CAST(cost AS NUMERIC)) AS cost,
  SUM(usage.amount) AS usage_amount,
  ARRAY_CONCAT_AGG(credits) AS credits
FROM `{table}`
WHERE _PARTITIONTIME >= TIMESTAMP_SUB(@start, INTERVAL 1 DAY)
  AND usage_start_time >= @start
  AND usage_start_time < @end
  AND invoice.month BETWEEN @first_month AND @last_month
  AND cost_type = 'regular'
  AND service.description IN UNNEST(@services)
GROUP BY usage_day, project_id, service, sku, label_value, currency,
  currency_conversion_rate, usage_unit
ORDER BY usage_day, project_id, service, sku, label_value
"""


def billing_query(table: str) -> str:
    """The query over `table`, which cannot be a parameter, so it is checked to be an id."""
    if not _TABLE_ID.match(table):
        raise ConfigError(
            f"GOOGLE_BILLING_TABLE {table[:120]!r} is not a table id like "
            "project.dataset.gcp_billing_export_v1_XXXXXX_XXXXXX_XXXXXX"
        )
    return QUERY.format(table=table)


def query_parameters(
    start: datetime, end: datetime, label_key: str
) -> list[bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter]:
    """The window as named parameters. Invoice months are Pacific time, so a window starting
    on the 1st (UTC) reaches back into the previous invoice month."""
    return [
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
        bigquery.ScalarQueryParameter("first_month", "STRING", invoice_month(start - _DAY)),
        bigquery.ScalarQueryParameter("last_month", "STRING", invoice_month(end)),
        bigquery.ScalarQueryParameter("label_key", "STRING", label_key),
        bigquery.ArrayQueryParameter("services", "STRING", list(AI_SERVICES)),
    ]


_DAY = timedelta(days=1)


def invoice_month(moment: datetime | date) -> str:
    return f"{moment.year:04d}{moment.month:02d}"


def parse_result_row(row: Mapping[str, Any], label_key: str) -> BillingRow:
    """One result row of the query (google.cloud.bigquery.Row or a dict) as a BillingRow."""
    try:
        day = row["usage_day"]
        if not isinstance(day, date):
            raise BillingRowError("usage_day is not a DATE")
        rate = row["currency_conversion_rate"]
        label = row["label_value"]
        return BillingRow(
            day=day,
            project=str(row["project_id"] or ""),
            service=str(row["service"] or ""),
            sku=str(row["sku"] or ""),
            cost=parse_decimal(row["cost"], "cost"),
            currency=str(row["currency"] or "USD"),
            rate=None if rate is None else parse_decimal(rate, "currency_conversion_rate"),
            usage_amount=parse_decimal(row["usage_amount"] or 0, "usage_amount"),
            usage_unit=str(row["usage_unit"] or ""),
            label=f"{label_key}={label}" if label else "",
            credits=tuple(_credit(c) for c in row["credits"] or ()),
        )
    except (KeyError, TypeError) as e:
        raise BillingRowError(f"result row lacks {e}") from e


def _credit(credit: Mapping[str, Any]) -> BillingCredit:
    kind = credit.get("type") or credit.get("name") or ""
    return BillingCredit(str(kind), parse_decimal(credit.get("amount"), "credits.amount"))


@dataclass(frozen=True)
class RetryBudget:
    """How the client library retries (its own predicate: rateLimitExceeded, 429, 5xx)."""

    initial: float = 1.0
    maximum: float = 30.0
    deadline: float = 300.0

    def retry(self) -> Retry:
        return DEFAULT_RETRY.with_delay(initial=self.initial, maximum=self.maximum).with_deadline(
            self.deadline
        )


class GoogleCollector:
    """Daily billed cost of Vertex AI and the Gemini API by project, SKU and team label."""

    provider: ClassVar[str] = PROVIDER
    sources: ClassVar[tuple[str, ...]] = (SOURCE,)

    def __init__(
        self,
        client: bigquery.Client,
        table: str,
        *,
        label_key: str = "team",
        budget: RetryBudget | None = None,
        page_size: int = PAGE_SIZE,
        on_page: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.query = billing_query(table)
        self.label_key = label_key
        self.budget = budget or RetryBudget()
        self.page_size = page_size
        self.on_page = on_page

    def collect(self, start: datetime, end: datetime) -> list[CostLine]:
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise CollectorError(PROVIDER, "collect needs aware start and end, end after start")
        config = bigquery.QueryJobConfig(
            query_parameters=query_parameters(start, end, self.label_key), use_legacy_sql=False
        )
        try:
            rows = self._rows(config)
            return cost_lines(parse_result_row(row, self.label_key) for row in rows)
        except BillingRowError as e:
            raise CollectorDataError(PROVIDER, f"BigQuery billing export: {e}") from e
        except _LIBRARY_ERRORS as e:
            raise translated(e) from e

    def _rows(self, config: bigquery.QueryJobConfig) -> list[Mapping[str, Any]]:
        retry = self.budget.retry()
        job = self.client.query(
            self.query,
            job_config=config,
            retry=retry,
            job_retry=None,  # no unbounded re-insert loop: a failed job waits for the next run
            timeout=TIMEOUT,
        )
        result = job.result(page_size=self.page_size, retry=retry, timeout=self.budget.deadline)
        rows: list[Mapping[str, Any]] = []
        for page in result.pages:
            rows.extend(page)
            if self.on_page is not None:
                self.on_page(PROVIDER)
        return rows


def translated(error: Exception) -> CollectorError:
    """A client library error as a CollectorError that names no credential."""
    if isinstance(error, api_errors.RetryError) and isinstance(error.cause, Exception):
        return translated(error.cause)
    if isinstance(error, api_errors.GoogleAPICallError):
        return _api_error(error)
    if isinstance(error, auth_errors.RefreshError):
        return CollectorAuthError(PROVIDER, "the credentials could not get an access token")
    if isinstance(error, auth_errors.GoogleAuthError):
        return CollectorAuthError(PROVIDER, f"credentials: {type(error).__name__}")
    if isinstance(error, requests.RequestException | concurrent.futures.TimeoutError):
        return CollectorUnavailable(PROVIDER, f"BigQuery: {type(error).__name__}")
    return CollectorError(PROVIDER, f"BigQuery: {type(error).__name__}")


def _api_error(error: api_errors.GoogleAPICallError) -> CollectorError:
    reasons = [str(e.get("reason", "")) for e in error.errors if isinstance(e, dict)]
    reason = next((r for r in reasons if r), type(error).__name__)
    what = f"BigQuery answered {error.code} ({reason})"
    if reason in _RATE_REASONS or isinstance(error, api_errors.TooManyRequests):
        return CollectorRateLimited(PROVIDER, f"{what}: rate limited", retry_after=None)
    if isinstance(error, api_errors.Unauthorized | api_errors.Forbidden):
        return CollectorAuthError(PROVIDER, f"{what}: the credentials were refused")
    if isinstance(error, api_errors.ServerError):
        return CollectorUnavailable(PROVIDER, what)
    return CollectorError(PROVIDER, f"{what}: {str(error.message).splitlines()[0][:200]}")


def google_credentials(path: Path | None) -> Credentials:
    """A service account from its JSON key file, else Application Default Credentials. The
    file's content never appears in an error."""
    if path is None:
        try:
            found, _project = google.auth.default(scopes=list(SCOPES))
        except auth_errors.DefaultCredentialsError as e:
            raise ConfigError(
                "no Google credentials: set GOOGLE_CREDENTIALS_FILE to a service account key file"
            ) from e
        return found
    try:
        account: Credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=list(SCOPES)
        )
    except OSError as e:
        raise ConfigError(f"GOOGLE_CREDENTIALS_FILE {path}: cannot read it ({e.strerror})") from e
    except (ValueError, KeyError) as e:  # not JSON, not a service account, a bad key
        raise ConfigError(f"GOOGLE_CREDENTIALS_FILE {path}: not a service account key file") from e
    return account


def bigquery_client(
    project: str, credentials: Credentials, api_url: str | None = None
) -> bigquery.Client:
    """A client whose queries run (and are billed) in `project`; `api_url` replaces the
    public API root (a proxy, a stand-in)."""
    options = ClientOptions(api_endpoint=api_url)
    return bigquery.Client(project=project, credentials=credentials, client_options=options)


def google_collector(
    settings: Settings, on_page: Callable[[str], None] | None = None
) -> GoogleCollector | None:
    """The collector when GOOGLE_BILLING_TABLE is set, else None."""
    table = settings.google_billing_table
    if not table:
        return None
    billing_query(table)  # a bad table id stops here, before any credential is read
    project = settings.google_project or table.split(".", 1)[0]
    credentials = google_credentials(settings.google_credentials_file)
    return GoogleCollector(
        bigquery_client(project, credentials, settings.google_bigquery_url),
        table,
        label_key=settings.google_team_label,
        on_page=on_page,
    )
