"""AWS credentials for workload identity federation on ECS (docs/deploy-aws.md).

Google's library finds an AWS server's credentials in the environment or in EC2's instance
metadata (IMDS). An ECS task gets its role's credentials from the container credentials
endpoint instead (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` or ``…_FULL_URI``), and a
Fargate task cannot reach IMDS at all: there the external-account file alone fails every
call. ``EcsCredentials`` is the library's documented extension point
(``AwsSecurityCredentialsSupplier``) reading that endpoint, as AWS's own SDKs do: the full URI
only on loopback or ECS's link-local addresses unless it is HTTPS, the task's authorization
token when one is given, the credentials kept until five minutes before they expire.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import threading
import urllib.parse
from pathlib import Path

from google.auth import aws, exceptions

ECS_HOST = "http://169.254.170.2"
_LINK_LOCAL = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"}


def on_ecs() -> bool:
    """An ECS task with a task role, and no AWS keys in the environment (those come first)."""
    return not os.environ.get("AWS_ACCESS_KEY_ID") and bool(
        os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"))


def _endpoint() -> str:
    relative = os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return ECS_HOST + relative
    full = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    url = urllib.parse.urlsplit(full)
    host = url.hostname or ""
    try:
        local = ipaddress.ip_address(host).is_loopback or host in _LINK_LOCAL
    except ValueError:
        local = host == "localhost"
    if url.scheme != "https" and not local:
        raise exceptions.RefreshError(f"AWS_CONTAINER_CREDENTIALS_FULL_URI {full}: plain HTTP only to loopback or "
                                      "ECS's own address (as AWS's SDKs require)")
    return full


class EcsCredentials(aws.AwsSecurityCredentialsSupplier):
    def __init__(self):
        self._lock = threading.Lock()
        self._cached: tuple[aws.AwsSecurityCredentials, dt.datetime] | None = None

    def get_aws_security_credentials(self, context, request) -> aws.AwsSecurityCredentials:
        with self._lock:
            now = dt.datetime.now(dt.timezone.utc)
            if self._cached and self._cached[1] - now > dt.timedelta(minutes=5):
                return self._cached[0]
            headers = {}
            token = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            token_file = os.environ.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            if token_file:
                token = Path(token_file).read_text().strip()
            if token:
                headers["Authorization"] = token
            url = _endpoint()
            answer = request(url=url, method="GET", headers=headers)
            if answer.status != 200:
                raise exceptions.RefreshError(f"the ECS container credentials endpoint answered {answer.status}")
            try:
                found = json.loads(answer.data)
                creds = aws.AwsSecurityCredentials(found["AccessKeyId"], found["SecretAccessKey"], found.get("Token"))
                expires = dt.datetime.strptime(found["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
            except (ValueError, KeyError) as e:
                raise exceptions.RefreshError(f"the ECS container credentials endpoint's answer is not credentials: "
                                              f"{e}") from e
            self._cached = (creds, expires)
            return creds

    def get_aws_region(self, context, request) -> str:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise exceptions.RefreshError("AWS_REGION is not set (ECS sets it for every task)")
        return region


def ecs_credentials(info: dict, scopes) -> aws.Credentials:
    """An AWS external-account file's credentials, with the task role's keys from ECS."""
    return aws.Credentials.from_info({**info, "credential_source": None},
                                     aws_security_credentials_supplier=EcsCredentials(), scopes=scopes)
