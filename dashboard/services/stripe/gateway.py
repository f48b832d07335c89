"""The one place that talks to Stripe through the official SDK.

Rules:
- Key, API base, timeout and retries come from ``StripeSettings``, which the door builds
  from the app's configuration (``StripeSettings.from_config``); a live key outside
  production, or a test key in production, is refused (``config.stripe_key_problem``).
- Reads (lists, retrievals) and the few writes support makes (``write``: refunds,
  subscription changes), each write with an idempotency key that every retry reuses, so
  retrying is always safe. Backoff is ours, exponential with full jitter: on 429 (rate
  limits and lock contention), 409, 5xx and connection errors, unless Stripe answers
  ``Stripe-Should-Retry: false``; ``true`` makes any status retryable.
  The SDK's own retries are off so the two never multiply.
- Every object is handed on as a plain dict with ``fetched_at``: the time in
  microseconds, taken before the request left, that the sync uses to order writes.
- No key or webhook secret ever reaches a log line, an exception message or a page:
  ``scrub`` removes them, and SDK errors are re-raised without their chain.
"""

from __future__ import annotations

import logging
import random
import re
import time
import urllib.request
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import stripe
import urllib3

from config import LIVE_KEY_PREFIXES, stripe_key_problem
from dashboard.core.errors import BackofficeError

ERR_NO_KEY = "Stripe is not configured: set STRIPE_SECRET_KEY."
ERR_UNAVAILABLE = "Stripe did not answer ({detail}); try again later."
ERR_REQUEST = "Stripe refused the request: {detail}"
ERR_SIGNATURE = "The Stripe-Signature header does not match the payload."
ERR_NO_SECRET = "No webhook secret is configured (STRIPE_WEBHOOK_SECRETS)."
ERR_RATE_LIMITED = "Stripe is rate-limiting requests right now; wait a minute and try again."
ERR_MISSING = "Stripe has no such object: {detail}"
# Refusals a person can act on, by Stripe's error code.
CODE_MESSAGES = {
    "charge_already_refunded": "Stripe says this payment is already fully refunded.",
    "amount_too_large": "Stripe refused: the amount is more than what is left to refund.",
}
PAGE_SIZE = 100
MAX_DELAY_SECONDS = 20.0
RESOURCES = (
    "products",
    "prices",
    "customers",
    "subscriptions",
    "invoices",
    "payment_intents",
    "charges",
    "refunds",
    "invoice_payments",
    "events",
)
_SECRET_PATTERN = re.compile(r"\b(?:[sr]k|pk)_(?:live|test)_\w+|\bwhsec_\w+")
REDACTED = "[redacted]"


class StripeConfigError(BackofficeError):
    """Stripe is not configured, or configured with a key this environment refuses."""


class StripeUnavailable(BackofficeError):
    """Stripe could not be reached or kept failing after the retries."""

    status_code = 503


class StripeRequestFailed(BackofficeError):
    """Stripe answered with an error that retrying will not fix."""


class StripeObjectMissing(StripeRequestFailed):
    """Stripe says the object does not exist (``resource_missing``)."""

    status_code = 404


class SignatureError(BackofficeError):
    """A webhook payload whose signature or timestamp does not verify."""


@dataclass(frozen=True)
class StripeSettings:
    """What the Stripe services need of the configuration, as plain values. The door builds
    it (``from_config(current_app.config)``) per request, job or command, so a changed
    configuration takes effect at once. Secrets stay out of ``repr``."""

    secret_key: str | None = field(repr=False)
    api_base: str | None
    env_name: str
    timeout: float
    max_retries: int
    retry_base_ms: int
    webhook_secrets: tuple[str, ...] = field(repr=False)
    webhook_tolerance: int
    refresh_max_age: int  # seconds before opening a user's page calls Stripe again
    refresh_timeout: float
    catalog_refresh_interval: int  # seconds between scheduled product/price refreshes
    job_timeout: int  # seconds after which a queued resync counts as left behind

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeSettings:
        return cls(
            secret_key=config.get("STRIPE_SECRET_KEY"),
            api_base=config.get("STRIPE_API_BASE"),
            env_name=config.get("ENV_NAME", "production"),
            timeout=config["STRIPE_TIMEOUT"],
            max_retries=config["STRIPE_MAX_RETRIES"],
            retry_base_ms=config["STRIPE_RETRY_BASE_MS"],
            webhook_secrets=tuple(config.get("STRIPE_WEBHOOK_SECRETS") or ()),
            webhook_tolerance=config["STRIPE_WEBHOOK_TOLERANCE"],
            refresh_max_age=config["STRIPE_REFRESH_MAX_AGE"],
            refresh_timeout=config["STRIPE_REFRESH_TIMEOUT"],
            catalog_refresh_interval=config["STRIPE_CATALOG_REFRESH_INTERVAL"],
            job_timeout=config.get("JOB_TIMEOUT", 3600),
        )

    @property
    def configured(self) -> bool:
        """Whether a key is configured: pages say "not configured" instead of calling Stripe."""
        return bool(self.secret_key)

    @property
    def livemode(self) -> bool:
        """Whether the key is a live one (links go to Stripe's live dashboard)."""
        return bool(self.secret_key and self.secret_key.startswith(LIVE_KEY_PREFIXES))


def scrub(text: str) -> str:
    """``text`` without anything that looks like a Stripe key or webhook secret."""
    return _SECRET_PATTERN.sub(REDACTED, text)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_log_scrubber() -> None:
    """Scrub keys from the SDK's own log lines (it logs response bodies at debug level)."""
    logger = logging.getLogger("stripe")
    if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
        logger.addFilter(_ScrubFilter())


def now_micros() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Page:
    objects: list[dict[str, Any]]
    fetched_at: int


@dataclass(frozen=True)
class Fetched:
    """A retrieved object (None: it no longer exists on Stripe) and when it was asked for."""

    object_id: str
    obj: dict[str, Any] | None
    fetched_at: int


def _retry_delay(attempt: int, base: float) -> float:
    # Full jitter (AWS's "exponential backoff and jitter"): spreads many clients apart.
    return random.uniform(0, min(MAX_DELAY_SECONDS, base * 2**attempt))


def _retryable(exc: stripe.StripeError) -> bool:
    should = (exc.headers or {}).get("stripe-should-retry") or (exc.headers or {}).get(
        "Stripe-Should-Retry"
    )
    if should == "false":
        return False
    if should == "true":
        return True
    if isinstance(exc, stripe.APIConnectionError):
        return bool(getattr(exc, "should_retry", True))
    status = exc.http_status or 0
    return status in (409, 429) or status >= 500


def _describe(exc: stripe.StripeError) -> str:
    message = getattr(exc, "user_message", None) or str(exc) or exc.__class__.__name__
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    return scrub(f"{status}{message}".strip().splitlines()[0])


class PooledHTTPClient(stripe.HTTPClient):
    """The SDK's transport on a urllib3 connection pool: keep-alive, per-request timeout,
    and a fraction of the CPU ``requests`` spends per call (it re-reads proxy settings from
    the environment on every request). The SDK's documented ``http_client`` hook."""

    name = "urllib3"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        proxy = urllib.request.getproxies().get("https")
        options: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            "retries": False,
            "maxsize": 8,
            "ca_certs": stripe.ca_bundle_path,
        }
        self._pool = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def request(
        self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any
    ) -> tuple[bytes, int, Any]:
        try:
            response = self._pool.request(
                method.upper(), url, headers=dict(headers or {}), body=post_data
            )
        except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out
            raise stripe.APIConnectionError(
                f"Could not reach Stripe ({exc.__class__.__name__})", should_retry=True
            ) from None
        return response.data, response.status, response.headers

    def close(self) -> None:
        self._pool.clear()


class Gateway:
    """A configured Stripe client with Backoffice's retry rules."""

    def __init__(
        self, *, key: str, api_base: str | None, timeout: float, retries: int, retry_base: float
    ) -> None:
        self.livemode = key.startswith(LIVE_KEY_PREFIXES)
        self.retries = retries
        self.retry_base = retry_base
        self._client = stripe.StripeClient(
            key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=0,
            http_client=PooledHTTPClient(timeout=timeout),
        )

    def _call(self, fn: Any) -> Any:
        attempt = 0
        while True:
            try:
                return fn()
            except stripe.StripeError as exc:
                if attempt >= self.retries or not _retryable(exc):
                    self._raise(exc)
                time.sleep(_retry_delay(attempt, self.retry_base))
                attempt += 1

    @staticmethod
    def _raise(exc: stripe.StripeError) -> None:
        detail = _describe(exc)
        if exc.code == "resource_missing":
            raise StripeObjectMissing(ERR_MISSING.format(detail=detail)) from None
        if exc.code in CODE_MESSAGES:
            raise StripeRequestFailed(CODE_MESSAGES[exc.code]) from None
        if exc.http_status == 429:
            raise StripeUnavailable(ERR_RATE_LIMITED) from None
        if _retryable(exc) or isinstance(exc, stripe.APIConnectionError):
            raise StripeUnavailable(ERR_UNAVAILABLE.format(detail=detail)) from None
        raise StripeRequestFailed(ERR_REQUEST.format(detail=detail)) from None

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        # raw_request is the SDK's own request path (auth, API version, error types) without
        # building StripeObjects, which costs ten times the HTTP round trip on big listings.
        response = self._call(lambda: self._client.raw_request("get", path, **params))
        return response.data

    def retrieve(self, resource: str, object_id: str, expand: list[str] | None = None) -> Fetched:
        """The object as Stripe has it now; ``obj`` is None when Stripe says it is gone
        (``resource_missing``, or a deleted customer)."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown Stripe resource {resource!r}")
        fetched_at = now_micros()
        try:
            data = self._get(f"/v1/{resource}/{object_id}", {"expand": expand} if expand else {})
        except StripeObjectMissing:
            return Fetched(object_id, None, fetched_at)
        if data.get("deleted"):
            return Fetched(object_id, None, fetched_at)
        return Fetched(object_id, data, fetched_at)

    def write(
        self, method: str, path: str, params: dict[str, Any], *, idempotency_key: str
    ) -> Fetched:
        """POST or DELETE ``path`` (e.g. ``/v1/refunds``) with ``idempotency_key``: every
        retry, and every later call with the same key, is answered with the first answer,
        so the change is applied once. ``fetched_at`` is taken before the request left."""
        fetched_at = now_micros()
        response = self._call(
            lambda: self._client.raw_request(
                method, path, idempotency_key=idempotency_key, **params
            )
        )
        return Fetched(response.data.get("id", ""), response.data, fetched_at)

    def _page(self, resource: str, params: dict[str, Any]) -> tuple[Page, bool]:
        fetched_at = now_micros()
        listing = self._get(f"/v1/{resource}", params)
        return Page(list(listing["data"]), fetched_at), bool(listing.get("has_more"))

    def list_pages(self, resource: str, params: dict[str, Any] | None = None) -> Iterator[Page]:
        """Every page of a listing, newest first, following ``starting_after`` while
        ``has_more``. The next page is fetched while the caller works on this one."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown Stripe resource {resource!r}")
        base = {"limit": PAGE_SIZE, **(params or {})}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stripe-page") as pool:
            pending = pool.submit(self._page, resource, base)
            while pending is not None:
                page, has_more = pending.result()
                pending = None
                if has_more and page.objects:
                    after = {**base, "starting_after": page.objects[-1]["id"]}
                    pending = pool.submit(self._page, resource, after)
                yield page

    def verify_signature(
        self, payload: bytes, header: str | None, secrets: list[str], tolerance: int
    ) -> None:
        """Accept ``payload`` if its signature matches any of ``secrets`` (rotation) and is
        no older than ``tolerance`` seconds; raise SignatureError otherwise."""
        verify_signature(payload, header, secrets, tolerance)


def verify_signature(
    payload: bytes, header: str | None, secrets: list[str], tolerance: int
) -> None:
    """See ``Gateway.verify_signature``; needs no API key."""
    if not secrets:
        raise StripeConfigError(ERR_NO_SECRET)
    last = ERR_SIGNATURE
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
            return
        except stripe.SignatureVerificationError as exc:
            last = scrub(str(exc).splitlines()[0]) if "tolerance" in str(exc) else ERR_SIGNATURE
        except (UnicodeDecodeError, ValueError):
            raise SignatureError(ERR_SIGNATURE) from None
    raise SignatureError(last)


def stripe_gateway(
    settings: StripeSettings, *, timeout: float | None = None, retries: int | None = None
) -> Gateway:
    """A gateway for ``settings``, or StripeConfigError saying what is missing.
    ``timeout``/``retries`` override the configured ones (short for on-access refresh)."""
    key = settings.secret_key
    if not key:
        raise StripeConfigError(ERR_NO_KEY)
    problem = stripe_key_problem(key, settings.env_name)
    if problem:
        raise StripeConfigError(problem)
    return _gateway(
        key,
        settings.api_base,
        settings.timeout if timeout is None else timeout,
        settings.max_retries if retries is None else retries,
        settings.retry_base_ms / 1000,
    )


# One gateway (and its connection pool) per distinct configuration, reused across requests.
@lru_cache(maxsize=16)
def _gateway(
    key: str, api_base: str | None, timeout: float, retries: int, retry_base: float
) -> Gateway:
    return Gateway(
        key=key, api_base=api_base, timeout=timeout, retries=retries, retry_base=retry_base
    )
