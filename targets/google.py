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
        import os
        named = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if named:
            # the file, by its own loader: google.auth.default() would also look up an external
            # account's project on cloudresourcemanager.googleapis.com, a call (and a permission)
            # the night does not need, before the first of its own
            if not Path(named).exists():
                raise ConfigError(f"[{section}] credentials is empty, so application-default credentials are used: "
                                  f"GOOGLE_APPLICATION_CREDENTIALS names {named}, which does not exist")
            return _from_file(named, section)
        try:
            found, _project = google.auth.default(scopes=SCOPES)
        except auth_errors.DefaultCredentialsError as e:
            raise ConfigError(f"[{section}] credentials is empty, so application-default credentials are used, and "
                              f"none were found: set GOOGLE_APPLICATION_CREDENTIALS to a key or credentials file, or "
                              f"name one in [{section}] credentials ({str(e).splitlines()[0]})") from e
        return found
    if not Path(value).exists():
        raise ConfigError(f"[{section}] credentials: key file {value} does not exist")
    return _from_file(value, section)


def _from_file(value: str, section: str):
    """A credentials file by its own ``type``, each kind through its own loader (Google's
    library warns against loading a file of unchecked kind): a service-account key, an
    authorized user's file, an external account (AWS or an identity pool)."""
    import json

    from google.auth import exceptions as auth_errors
    try:
        info = json.loads(Path(value).read_text())
        kind = info.get("type") if isinstance(info, dict) else None
    except (OSError, ValueError) as e:
        raise ConfigError(f"[{section}] credentials: {value} is not a JSON credentials file ({e})") from e
    try:
        if kind == "service_account":
            from google.oauth2 import service_account
            return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        if kind == "authorized_user":
            from google.oauth2 import credentials as user
            return user.Credentials.from_authorized_user_info(info, scopes=SCOPES)
        if kind == "external_account":
            source = info.get("credential_source") or {}
            if str(source.get("environment_id", "")).startswith("aws"):
                from google.auth import aws

                from targets.google_aws import ecs_credentials, on_ecs
                if on_ecs():  # a task role: its keys from ECS, not EC2's metadata (targets/google_aws.py)
                    return ecs_credentials(info, SCOPES)
                return aws.Credentials.from_info(info, scopes=SCOPES)
            from google.auth import identity_pool
            return identity_pool.Credentials.from_info(info, scopes=SCOPES)
    except (ValueError, auth_errors.GoogleAuthError) as e:
        raise ConfigError(f"[{section}] credentials: {value} is a {kind} file Google's library does not take: "
                          f"{str(e).splitlines()[0]}") from e
    raise ConfigError(f"[{section}] credentials: {value} is of type {kind!r}; a service_account key, an "
                      "authorized_user file or an external_account (workload identity federation) file is taken")


def identity(creds) -> str:
    """Who the credentials are and what they may ask for, as the doctor says it: "service account
    etl@p.iam.gserviceaccount.com, scopes cloud-platform"."""
    from google.auth.credentials import AnonymousCredentials
    if isinstance(creds, AnonymousCredentials):
        return "anonymous (an emulator)"
    email = getattr(creds, "service_account_email", None)
    kind = type(creds).__module__.rsplit(".", 1)[-1]
    if kind == "service_account":
        who = f"service account {email}"
    elif kind == "credentials" and hasattr(creds, "refresh_token"):
        who = f"user {getattr(creds, 'account', '') or 'credentials'} (an authorized user's file)"
    elif kind in ("identity_pool", "aws", "external_account", "pluggable"):
        who = f"external account{f' acting as {email}' if email else ''} (workload identity federation)"
    else:
        who = f"{type(creds).__name__}{f' {email}' if email and email != 'default' else ''}"
    scopes = getattr(creds, "scopes", None) or getattr(creds, "default_scopes", None) or ()
    short = ", ".join(sc.rsplit("/auth/", 1)[-1] for sc in scopes) or "none"
    return f"{who}, scopes {short}"


def said(e: Exception) -> str:
    """What Google's answer said, without the request and the JSON around it: the first error's
    own message where the answer has one."""
    errors = getattr(e, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(first.get("message") or getattr(e, "message", None) or e)


def transient(e: Exception) -> bool:
    """A server error, throttling or a dropped connection: worth a retry or a rerun."""
    import requests
    return isinstance(e, (gexc.ServerError, gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.RetryError,
                          ConnectionError, TimeoutError, requests.exceptions.ConnectionError,
                          requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError))
