"""What the Google clients (BigQuery, GCS) share: credentials from a setting, and which
errors are worth retrying."""
from __future__ import annotations

from pathlib import Path

import google.api_core.exceptions as gexc

from targets.errors import ConfigError


# what every call asks for: the clients' own default, and a scope each API takes
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def credentials(value: str | None, section: str):
    """Credentials from ``[<section>] credentials``, scoped (``SCOPES``), the same object for
    our HTTP session and the library's clients:

    - empty: application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS``: a
      service-account key, an authorized user's file, an external account (workload identity
      federation, e.g. from AWS); gcloud's own; the metadata server);
    - a file of any of those kinds;
    - ``anonymous``: the emulators only.

    Before issue 26 an empty setting gave None, which our session could not use (every call
    failed with ``'NoneType' object has no attribute 'before_request'``), and a key file's
    credentials had no scopes (Google's token endpoint answers ``invalid_scope``)."""
    if value == "anonymous":
        from google.auth.credentials import AnonymousCredentials
        return AnonymousCredentials()
    import google.auth
    from google.auth import exceptions as auth_errors
    if value in (None, ""):
        try:
            found, _project = google.auth.default(scopes=SCOPES)
        except auth_errors.DefaultCredentialsError as e:
            raise ConfigError(f"[{section}] credentials is empty, so application-default credentials are used, and "
                              f"none were found: set GOOGLE_APPLICATION_CREDENTIALS to a key or credentials file, or "
                              f"name one in [{section}] credentials ({str(e).splitlines()[0]})") from e
        return found
    if not Path(value).exists():
        raise ConfigError(f"[{section}] credentials: key file {value} does not exist")
    try:
        found, _project = google.auth.load_credentials_from_file(value, scopes=SCOPES)
    except auth_errors.DefaultCredentialsError as e:
        raise ConfigError(f"[{section}] credentials: {value} is not a credentials file Google's library reads: "
                          f"{str(e).splitlines()[0]}") from e
    return found


def transient(e: Exception) -> bool:
    """A server error, throttling or a dropped connection: worth a retry or a rerun."""
    import requests
    return isinstance(e, (gexc.ServerError, gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.RetryError,
                          ConnectionError, TimeoutError, requests.exceptions.ConnectionError,
                          requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError))
