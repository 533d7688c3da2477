"""What the Google clients (BigQuery, GCS) share: credentials from a setting, and which
errors are worth retrying."""
from __future__ import annotations

from pathlib import Path

import google.api_core.exceptions as gexc

from targets.errors import ConfigError


def credentials(value: str | None, section: str):
    """``anonymous`` (the emulators), a service-account key file, or empty for
    application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS``)."""
    if value in (None, ""):
        return None  # application-default credentials
    if value == "anonymous":
        from google.auth.credentials import AnonymousCredentials
        return AnonymousCredentials()
    from google.oauth2 import service_account
    if not Path(value).exists():
        raise ConfigError(f"[{section}] credentials: key file {value} does not exist")
    return service_account.Credentials.from_service_account_file(value)


def transient(e: Exception) -> bool:
    """A server error, throttling or a dropped connection: worth a retry or a rerun."""
    import requests
    return isinstance(e, (gexc.ServerError, gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.RetryError,
                          ConnectionError, TimeoutError, requests.exceptions.ConnectionError,
                          requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError))
