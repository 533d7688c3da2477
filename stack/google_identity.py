"""Google's identity, as the stack plays it (issue 26): an OAuth2 token endpoint and a front
before an emulator that refuses what Google refuses.

The emulators accept any credentials, so code that sends none, or a token without scopes,
passed there and failed on its first night at a district. Here:

- **The token endpoint** (``POST /token``) issues access tokens the way
  oauth2.googleapis.com does:
  - for a service account's signed assertion (RFC 7523), checked against the account's
    public key, with an audience of Google's token URI, a lifetime of at most an hour, and
    scopes;
  - for an authorized user's refresh token (``gcloud auth application-default login``).
  Errors come in Google's shape: ``invalid_scope`` for an assertion without scopes,
  ``invalid_grant`` for a bad signature, an unknown account or an expired assertion.
- **The front** forwards to the emulator only a request with a live token that carries a
  scope the API takes. It answers 401 (no token, an unknown or expired one) and 403
  (insufficient scopes) in Google's JSON error shape, before the emulator sees the request.
  With a policy (stack/google_iam.py), it lets through only what the identity's roles allow,
  and answers the rest with the API's own 403 (BigQuery's ``accessDenied``, Cloud Storage's
  ``forbidden``).
  It refuses a view whose SQL reads a table that does not exist (404 "Not found: Table …"),
  as BigQuery checks a view's SQL when it is written; the emulator does not. It keeps each
  load job's configuration, which the tests assert on (the emulator ignores most of it).

The stack writes the key files (``token_uri`` pointing here), so the official libraries run
their real credential code against it. Tokens live in memory, for the life of the process.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # every service-account assertion's audience
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# the scopes each API takes, as Google's discovery documents list them
API_SCOPES = {
    "bigquery": {CLOUD_PLATFORM, "https://www.googleapis.com/auth/bigquery",
                 "https://www.googleapis.com/auth/cloud-platform.read-only",
                 "https://www.googleapis.com/auth/bigquery.readonly"},
    "storage": {CLOUD_PLATFORM, "https://www.googleapis.com/auth/devstorage.read_write",
                "https://www.googleapis.com/auth/devstorage.full_control",
                "https://www.googleapis.com/auth/devstorage.read_only"},
}
TOKEN_SECONDS = 3600


@dataclass
class Token:
    identity: str
    scopes: frozenset[str]
    expires: float


@dataclass
class Registry:
    """Who may get tokens (service accounts by email and public key; authorized users by
    refresh token), and the tokens issued."""
    service_accounts: dict[str, dict] = field(default_factory=dict)  # email -> {"kid", "public_pem"}
    users: dict[str, dict] = field(default_factory=dict)  # refresh token -> {"email", "client_id", "client_secret", "scopes"}
    tokens: dict[str, Token] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # what the token endpoint was asked (tests read it)
    lock: threading.Lock = field(default_factory=threading.Lock)
    path: Path | None = None  # the service accounts kept in a file (the stack's), read again when it changes

    def account(self, email: str) -> dict | None:
        if email not in self.service_accounts and self.path is not None and self.path.exists():
            self.service_accounts.update(json.loads(self.path.read_text()))  # one added since: read again
        return self.service_accounts.get(email)

    def save(self) -> None:
        """The service accounts into ``path`` (atomically)."""
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            known = json.loads(self.path.read_text()) if self.path.exists() else {}
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({**known, **self.service_accounts}, indent=1))
            tmp.replace(self.path)

    def issue(self, identity: str, scopes: frozenset[str]) -> dict:
        token = "ya29.stack-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = Token(identity, scopes, time.time() + TOKEN_SECONDS)
        return {"access_token": token, "expires_in": TOKEN_SECONDS, "token_type": "Bearer",
                "scope": " ".join(sorted(scopes))}

    def lookup(self, token: str) -> Token | None:
        with self.lock:
            found = self.tokens.get(token)
        return found if found is not None and found.expires > time.time() else None

    def expire(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token].expires = 0


def service_account_key(registry: Registry, email: str, project: str, token_uri: str, path: Path) -> Path:
    """A new service account's key file (Google's JSON form, ``token_uri`` pointing here),
    registered with its public key; mode 600."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(20)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    registry.service_accounts[email] = {"kid": kid, "public_pem": public}
    if registry.path is not None:
        registry.save()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": kid, "private_key": pem,
        "client_email": email, "client_id": str(int(kid[:12], 16)), "token_uri": token_uri,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth"}, indent=2))
    path.chmod(0o600)
    return path


def authorized_user_file(registry: Registry, email: str, token_uri: str, path: Path,
                         scopes: frozenset[str] = frozenset({CLOUD_PLATFORM})) -> Path:
    """An authorized user's application-default credentials file (what ``gcloud auth
    application-default login`` writes), registered; mode 600."""
    refresh, client_id, client_secret = secrets.token_urlsafe(32), "764086051850-stack.apps.googleusercontent.com", \
        secrets.token_urlsafe(16)
    registry.users[refresh] = {"email": email, "client_id": client_id, "client_secret": client_secret,
                               "scopes": frozenset(scopes)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "authorized_user", "client_id": client_id, "client_secret": client_secret,
                                "refresh_token": refresh, "token_uri": token_uri}, indent=2))
    path.chmod(0o600)
    return path


def _oauth_error(error: str, description: str) -> tuple[int, dict]:
    return 400, {"error": error, "error_description": description}


def grant(registry: Registry, form: dict[str, str]) -> tuple[int, dict]:
    """The token endpoint's answer (status, JSON) to a form, as oauth2.googleapis.com gives it."""
    from google.auth import exceptions as gexc
    from google.auth import jwt
    kind = form.get("grant_type", "")
    registry.requests.append({"grant_type": kind, **{k: v for k, v in form.items() if k != "assertion"}})
    if kind == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, verify=False)
        except (ValueError, gexc.GoogleAuthError):
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable "
                                "timeframe")
        account = registry.account(claims.get("iss", ""))
        if account is None:
            return _oauth_error("invalid_grant", "Invalid grant: account not found")
        try:
            claims = jwt.decode(assertion, certs={account["kid"]: account["public_pem"]}, audience=GOOGLE_TOKEN_URI)
        except (ValueError, gexc.GoogleAuthError) as e:
            text = str(e)
            if "signature" in text.lower() or "Certificate" in text:
                return _oauth_error("invalid_grant", "Invalid JWT Signature.")
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                                "a reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if int(claims.get("exp", 0)) - int(claims.get("iat", 0)) > 3600:
            return _oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                                "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        return 200, registry.issue(claims["iss"], scopes)
    if kind == "refresh_token":
        user = registry.users.get(form.get("refresh_token", ""))
        if user is None or form.get("client_id") != user["client_id"] or \
                form.get("client_secret") != user["client_secret"]:
            return _oauth_error("invalid_grant", "Bad Request")
        asked = frozenset(form.get("scope", "").split())
        if asked and not asked <= user["scopes"]:
            return _oauth_error("invalid_scope", "Bad Request")
        return 200, registry.issue(user["email"], asked or user["scopes"])
    return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {kind}")


def _google_error(code: int, message: str, reason: str, status: str, **extra) -> dict:
    error = {"message": extra.pop("short", message), "domain": "global", "reason": reason, **extra}
    return {"error": {"code": code, "message": message, "errors": [error], "status": status}}


def authenticate(registry: Registry, api: str, authorization: str | None) -> tuple[int, dict] | Token:
    """The token a request carries, or Google's 401/403 answer for it."""
    if not authorization or not authorization.startswith("Bearer "):
        return 401, _google_error(
            401, "Request is missing required authentication credential. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential.", "required", "UNAUTHENTICATED",
            short="Login Required.", location="Authorization", locationType="header")
    token = registry.lookup(authorization[len("Bearer "):].strip())
    if token is None:
        return 401, _google_error(
            401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
            "other valid authentication credential.", "authError", "UNAUTHENTICATED", short="Invalid Credentials",
            location="Authorization", locationType="header")
    if not token.scopes & API_SCOPES[api]:
        return 403, _google_error(403, "Request had insufficient authentication scopes.", "insufficientPermissions",
                                  "PERMISSION_DENIED", short="Insufficient Permission")
    return token


_TABLES_PATH = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables(?:/([^/?]+))?(?:\?|$)")


def missing_view_source(session: requests.Session, upstream: str, project: str, body: bytes) -> str | None:
    """For a table insert or patch that writes a view: the first table its SQL reads that does
    not exist (``project:dataset.table``), else None."""
    try:
        query = (json.loads(body or b"{}").get("view") or {}).get("query")
    except ValueError:
        return None
    from stack.google_iam import read_references
    for ref in read_references(query or ""):
        parts = ref.split(".")
        p, d, t = ([project] + parts) if len(parts) == 2 else parts
        got = session.get(f"{upstream}/bigquery/v2/projects/{p}/datasets/{d}/tables/{t}", timeout=30)
        if got.status_code == 404:
            return f"{p}:{d}.{t}"
    return None


def job_resource(content_type: str, body: bytes) -> dict | None:
    """A job insert's (or jobs.query's) JSON body, from a plain, multipart or resumable upload."""
    import email
    text = body
    if content_type.startswith("multipart/"):
        message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        parts = message.get_payload()
        if not isinstance(parts, list) or not parts:
            return None
        text = parts[0].get_payload(decode=True) or b""
    try:
        job = json.loads(text or b"{}")
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "IdentityFront"

    def log_message(self, *args) -> None:  # quiet: the stack's logs are its own
        pass

    def setup(self) -> None:
        super().setup()
        # the headers and the body go out as two writes: without this, Nagle's algorithm held the
        # body for the client's delayed ACK, 40 ms a call
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {"Content-Type": "application/json; charset=UTF-8"}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "POST" and self.path.split("?")[0] == "/token":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            status, answer = grant(self.server.registry, form)
            self._answer(status, answer)
            return
        if self.server.federation is not None and self._federation(body):
            return
        checked = authenticate(self.server.registry, self.server.api, self.headers.get("Authorization"))
        if not isinstance(checked, Token):
            self._answer(*checked)
            return
        if self.server.policy is not None and self._test_permissions(checked.identity, body):
            return
        job = job_resource(self.headers.get("Content-Type", ""), body) \
            if self.server.api == "bigquery" and self.command == "POST" else None
        if self.server.policy is not None:
            refused = self._refused(checked.identity, job)
            if refused:
                self._answer(403, refused)
                return
        if self.server.api == "bigquery" and self.command in ("POST", "PATCH", "PUT"):
            match = _TABLES_PATH.match(self.path)
            missing = match and missing_view_source(self.server.session, self.server.upstream, match.group(1),
                                                          body)
            if missing:
                self._answer(404, _google_error(404, f"Not found: Table {missing} was not found in location "
                                                     f"{self.server.location}", "notFound", "NOT_FOUND"))
                return
        load = ((job or {}).get("configuration") or {}).get("load") if "/jobs" in self.path else None
        if load is not None:
            self.server.loads.append(load)
        self.server.seen.append((checked.identity, self.command, self.path))
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "authorization", "content-length", "connection")}
        upstream = self.server.session.request(self.command, self.server.upstream + self.path, data=body,
                                               headers=headers, timeout=300, stream=False, allow_redirects=False)
        out = {k: v for k, v in upstream.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")}
        self._answer(upstream.status_code, upstream.content, out)

    def _federation(self, body: bytes) -> bool:
        """AWS's instance metadata, Google's STS and IAM Credentials (stack/google_federation.py),
        when the path is theirs."""
        from stack import google_federation as fed
        path = self.path.split("?")[0]
        if path.startswith(("/latest/", "/v2/credentials/")):
            status, text = fed.imds(self.server.federation, self.command, path, self.headers)
            self._answer(status, text.encode(), {"Content-Type": "text/plain"})
        elif self.command == "POST" and path == "/v1/token":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            self._answer(*fed.exchange(self.server.federation, self.server.registry, form))
        elif self.command == "POST" and path.endswith(":generateAccessToken") and "/serviceAccounts/" in path:
            email = urllib.parse.unquote(path.rsplit("/serviceAccounts/", 1)[1].removesuffix(":generateAccessToken"))
            self._answer(*fed.generate_access_token(self.server.federation, self.server.registry, email,
                                                    self.headers.get("Authorization"), json.loads(body or b"{}")))
        else:
            return False
        return True

    def _test_permissions(self, identity: str, body: bytes) -> bool:
        """testIamPermissions, answered from the policy: Cloud Resource Manager's for a project
        (``POST /v1/projects/P:testIamPermissions``, on the BigQuery front), BigQuery's for a
        table (empty for one that does not exist, as BigQuery answers), Cloud Storage's for a
        bucket (``GET …/b/B/iam/testPermissions``). No permission is needed to ask."""
        path, _, query = self.path.partition("?")
        policy = self.server.policy
        if self.command == "POST" and path.endswith(":testIamPermissions"):
            asked = json.loads(body or b"{}").get("permissions") or []
            project = re.match(r"^/v1/projects/([^/:]+):testIamPermissions$", path)
            table = _TABLES_PATH.match(path.removesuffix(":testIamPermissions"))
            if project:
                resource = f"projects/{project.group(1)}"
            elif table and table.group(3):
                exists = self.server.session.get(self.server.upstream + path.removesuffix(":testIamPermissions"),
                                                 timeout=30).status_code == 200
                resource = f"projects/{table.group(1)}/datasets/{table.group(2)}" if exists else None
            else:
                return False
            held = [p for p in asked if resource and policy.allows(identity, p, resource)]
            self._answer(200, {"permissions": held} if held else {})
            return True
        bucket = re.match(r"^/storage/v1/b/([^/]+)/iam/testPermissions$", path)
        if self.command == "GET" and bucket:
            asked = urllib.parse.parse_qs(query).get("permissions", [])
            resource = f"projects/_/buckets/{urllib.parse.unquote(bucket.group(1))}"
            self._answer(200, {"kind": "storage#testIamPermissionsResponse",
                               "permissions": [p for p in asked if policy.allows(identity, p, resource)]})
            return True
        return False

    def _refused(self, identity: str, job: dict | None) -> dict | None:
        """Google's 403 for the first permission this call needs that the identity lacks."""
        from stack.google_iam import bigquery_needs, storage_needs
        if self.server.api == "bigquery":
            need = self.server.policy.denied(identity, bigquery_needs(self.command, self.path, job))
            return need and _google_error(403, need.message, "accessDenied", "PERMISSION_DENIED")
        need = self.server.policy.denied(identity, storage_needs(self.command, self.path, identity))
        return need and {"error": {"code": 403, "message": need.message,
                                   "errors": [{"message": need.message, "domain": "global", "reason": "forbidden"}]}}

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class IdentityFront(ThreadingHTTPServer):
    """The token endpoint and a front before one emulator (``api``: "bigquery" or "storage"),
    on ``port``; ``start()`` serves in a thread."""
    daemon_threads = True

    def __init__(self, registry: Registry, api: str, upstream: str, port: int = 0, location: str = "US",
                 policy=None):
        super().__init__(("127.0.0.1", port), _Handler)
        self.registry, self.api, self.upstream, self.location = registry, api, upstream.rstrip("/"), location
        self.policy = policy  # stack.google_iam.Policy: who may do what (None: every identity everything)
        self.federation = None  # stack.google_federation.Federation: AWS's metadata, Google's STS (tests set it)
        self.session = requests.Session()  # kept connections to the emulator
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
        # (identity, method, path) of what was let through, and each load job's configuration as
        # BigQuery got it: the latest 10,000 (the stack's front runs for days)
        self.seen: deque[tuple[str, str, str]] = deque(maxlen=10_000)
        self.loads: deque[dict] = deque(maxlen=10_000)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "IdentityFront":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

