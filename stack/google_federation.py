"""Workload identity federation from AWS, as the stack plays it (issue 26): the three services a
district's AWS server meets when its ETL reaches Google without a key (docs/deploy-aws.md).

- **AWS's instance metadata (IMDSv2):** a session token (``PUT /latest/api/token``), then, with
  it, the region and the instance role's temporary credentials. Without the session token the
  answer is 401, as on an instance that requires IMDSv2.
- **Google's Security Token Service** (``POST /v1/token``, token exchange, RFC 8693): the
  subject token is a GetCallerIdentity request to AWS STS, signed with Signature Version 4.
  Google has AWS check it; the stand-in checks it itself, as AWS would: the key is known,
  the signature matches, the date is within 15 minutes, the URL is the region's STS
  GetCallerIdentity, and ``x-goog-cloud-target-resource`` names the provider (the audience).
  The answer is a federated token for the AWS role's principal.
- **IAM Credentials** (``…/serviceAccounts/EMAIL:generateAccessToken``): a federated token
  whose AWS role may act as the service account (``roles/iam.workloadIdentityUser``) gets that
  account's access token, with the scopes asked. Otherwise 403, in Google's shape.

Errors come in Google's and AWS's shapes, so the library's own error paths run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.parse
from dataclasses import dataclass, field

SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass
class Federation:
    """The AWS side (instance role keys) and the Google side (providers, who may act as whom)."""
    region: str = "us-east-1"
    account: str = "123456789012"
    keys: dict[str, dict] = field(default_factory=dict)  # access key id -> {"secret", "token", "role"}
    providers: dict[str, str] = field(default_factory=dict)  # audience -> the AWS account it trusts
    impersonators: dict[str, set[str]] = field(default_factory=dict)  # service account -> AWS role ARNs
    imds_tokens: set[str] = field(default_factory=set)
    role: str = "district-etl-instance"
    ecs_token: str | None = None  # the container credentials endpoint's authorization token, if any

    def instance_role(self) -> dict:
        """New temporary credentials for the instance's role (what IMDS hands out)."""
        key_id = "ASIA" + secrets.token_hex(8).upper()
        self.keys[key_id] = {"secret": secrets.token_urlsafe(30), "token": secrets.token_urlsafe(48),
                             "role": f"arn:aws:iam::{self.account}:role/{self.role}"}
        return {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": key_id,
                "SecretAccessKey": self.keys[key_id]["secret"], "Token": self.keys[key_id]["token"],
                "Expiration": (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "LastUpdated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def provider_audience(project_number: str, pool: str, provider: str) -> str:
    return (f"//iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/{pool}/"
            f"providers/{provider}")


def credential_config(audience: str, base: str, service_account: str) -> dict:
    """The external-account file ``gcloud iam workload-identity-pools create-cred-config --aws``
    writes, with Google's and AWS's URLs pointing at the stand-in (``base``)."""
    return {"type": "external_account", "audience": audience, "subject_token_type": SUBJECT_TOKEN_TYPE,
            "token_url": f"{base}/v1/token",
            "service_account_impersonation_url":
                f"{base}/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken",
            "credential_source": {
                "environment_id": "aws1",
                "region_url": f"{base}/latest/meta-data/placement/availability-zone",
                "url": f"{base}/latest/meta-data/iam/security-credentials",
                "imdsv2_session_token_url": f"{base}/latest/api/token",
                "regional_cred_verification_url":
                    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"}}


# ---------------------------------------------------------------- IMDSv2

def imds(fed: Federation, method: str, path: str, headers) -> tuple[int, str]:
    """The instance metadata service's answer (status, text), or ECS's container credentials
    endpoint's (``/v2/credentials/…``, with the task's authorization token when one is set)."""
    if path.startswith("/v2/credentials/"):
        if fed.ecs_token is not None and headers.get("Authorization") != fed.ecs_token:
            return 401, "Unauthorized"
        return 200, json.dumps({**fed.instance_role(), "RoleArn": f"arn:aws:iam::{fed.account}:role/{fed.role}"})
    if method == "PUT" and path == "/latest/api/token":
        if not headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return 400, "Missing TTL header"
        token = secrets.token_urlsafe(32)
        fed.imds_tokens.add(token)
        return 200, token
    if headers.get("X-aws-ec2-metadata-token") not in fed.imds_tokens:
        return 401, "Unauthorized"  # IMDSv2 required
    if path == "/latest/meta-data/placement/availability-zone":
        return 200, f"{fed.region}a"
    if path.rstrip("/") == "/latest/meta-data/iam/security-credentials":
        return 200, fed.role
    if path == f"/latest/meta-data/iam/security-credentials/{fed.role}":
        return 200, json.dumps(fed.instance_role())
    return 404, "Not Found"


# ---------------------------------------------------------------- SigV4, as AWS checks it

def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def caller_role(fed: Federation, signed: dict, audience: str) -> str:
    """The AWS role ARN a serialized GetCallerIdentity request was signed by, or ValueError
    saying why AWS (or Google) would refuse it."""
    headers = {h["key"].lower(): h["value"] for h in signed.get("headers") or []}
    url = urllib.parse.urlsplit(signed.get("url", ""))
    if signed.get("method") != "POST" or url.hostname != f"sts.{fed.region}.amazonaws.com":
        raise ValueError("the subject token is not a request to the region's AWS STS")
    query = urllib.parse.parse_qs(url.query)
    if query.get("Action") != ["GetCallerIdentity"] or query.get("Version") != ["2011-06-15"]:
        raise ValueError("the subject token is not a GetCallerIdentity request")
    if headers.get("x-goog-cloud-target-resource") != audience:
        raise ValueError("x-goog-cloud-target-resource does not name the provider")
    auth = headers.get("authorization", "")
    fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("AWS4-HMAC-SHA256 ").split(","))
    key_id, date_stamp, region, service, _ = fields.get("Credential", "////").split("/")
    key = fed.keys.get(key_id)
    if key is None or not auth.startswith("AWS4-HMAC-SHA256 "):
        raise ValueError("The security token included in the request is invalid.")
    if headers.get("x-amz-security-token") != key["token"]:
        raise ValueError("The security token included in the request is invalid.")
    amz_date = headers.get("x-amz-date", "")
    when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    if abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) > 900:
        raise ValueError("Signature expired")
    signed_names = fields.get("SignedHeaders", "").split(";")
    if "host" not in signed_names:
        raise ValueError("the host header is not signed")
    headers.setdefault("host", url.hostname)
    pairs = sorted(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    canonical = "\n".join([
        "POST", url.path or "/", "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                                        for k, v in pairs),
        "".join(f"{n}:{headers.get(n, '').strip()}\n" for n in signed_names), ";".join(signed_names),
        hashlib.sha256(b"").hexdigest()])
    scope = f"{date_stamp}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing = _hmac(_hmac(_hmac(_hmac(("AWS4" + key["secret"]).encode(), date_stamp), region), service),
                    "aws4_request")
    if not hmac.compare_digest(hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest(),
                               fields.get("Signature", "")):
        raise ValueError("The request signature we calculated does not match the signature you provided.")
    return key["role"]


# ---------------------------------------------------------------- Google STS and IAM Credentials

def exchange(fed: Federation, registry, form: dict) -> tuple[int, dict]:
    """Google STS's answer to a token exchange (``registry``: stack.google_identity.Registry)."""
    if form.get("grant_type") != TOKEN_EXCHANGE:
        return 400, {"error": "invalid_request", "error_description": "Invalid value for \"grant_type\"."}
    audience = form.get("audience", "")
    if audience not in fed.providers:
        return 400, {"error": "invalid_target", "error_description": "The target service indicated by the "
                     "\"audience\" parameters is invalid. This might either be because the pool or provider is "
                     "disabled or deleted or because it doesn't exist."}
    if form.get("subject_token_type") != SUBJECT_TOKEN_TYPE:
        return 400, {"error": "invalid_request", "error_description": "Invalid subject_token_type."}
    try:
        signed = json.loads(urllib.parse.unquote(form.get("subject_token", "")))
        role = caller_role(fed, signed, audience)
    except (ValueError, KeyError, TypeError) as e:
        return 400, {"error": "invalid_grant", "error_description": f"Received invalid AWS response of type "
                     f"InvalidClientTokenId with error message: {e}"}
    scopes = frozenset((form.get("scope") or "").split())
    answer = registry.issue(f"aws-role:{role}", scopes)
    answer["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
    return 200, answer


def generate_access_token(fed: Federation, registry, email: str, authorization: str | None,
                          body: dict) -> tuple[int, dict]:
    """IAM Credentials' answer: the service account's token for a federated caller allowed to
    act as it."""
    token = registry.lookup((authorization or "").removeprefix("Bearer ").strip())
    if token is None:
        return 401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                               "status": "UNAUTHENTICATED"}}
    role = token.identity.removeprefix("aws-role:")
    if role not in fed.impersonators.get(email, set()):
        return 403, {"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on "
                               "resource (or it may not exist).", "status": "PERMISSION_DENIED"}}
    scopes = frozenset(body.get("scope") or [])
    issued = registry.issue(email, scopes)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=issued["expires_in"])
    return 200, {"accessToken": issued["access_token"], "expireTime": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
