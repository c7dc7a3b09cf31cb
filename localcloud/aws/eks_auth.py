"""The EKS token authenticator of the local cloud.

The kube-apiserver sends every bearer token to this webhook as a TokenReview.
We accept exactly what EKS accepts (aws-iam-authenticator's rules):

- ``k8s-aws-v1.`` + unpadded base64url of a presigned STS GetCallerIdentity URL
  pointing at the (emulated) STS endpoint;
- signed with SigV4 by a key the emulated account knows (the signature is
  recomputed here: a token whose URL was altered is refused);
- ``x-k8s-aws-id`` among the signed headers and naming an existing cluster;
- ``X-Amz-Date`` no older than 15 minutes (and not from the future);

then ask the emulated STS who signed it, and the cluster which Kubernetes user and
groups that IAM identity is (``access``: its access entry and access policies, or the
creator bootstrapped as admin, see ``eks_access``). An identity without access is
refused, as EKS does.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, quote, urlsplit

LOG = logging.getLogger("localcloud.webhook")

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
MAX_AGE = datetime.timedelta(minutes=15)
CLOCK_SKEW = datetime.timedelta(minutes=5)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class TokenRejected(Exception):
    pass


@dataclass
class Identity:
    arn: str
    user_id: str
    account: str
    cluster: str
    username: str
    groups: list[str]


@dataclass
class Authority:
    """What the verifier needs from the emulated AWS (injected, so it is testable)."""

    sts_hosts: set[str]
    secret_for: Callable[[str], str | None]  # access key id -> secret (None: unknown key)
    caller_identity: Callable[[str], tuple[str, str, str]]  # access key id -> (user_id, arn, account)
    # (cluster name, caller ARN) -> (Kubernetes username, groups), None: no access on that cluster
    access: Callable[[str, str], tuple[str, list[str]] | None]
    clusters: Callable[[], list[str]]  # names of the existing clusters this apiserver serves


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signature(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    k = _sign(("AWS4" + secret).encode(), date)
    k = _sign(k, region)
    k = _sign(k, service)
    k = _sign(k, "aws4_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


def decode_token(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected("not an EKS token (missing k8s-aws-v1. prefix)")
    raw = token[len(TOKEN_PREFIX):]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenRejected(f"token is not base64url: {e}")


def verify(token: str, authority: Authority, now: datetime.datetime | None = None, cluster: str | None = None) -> Identity:
    """Return the identity behind ``token`` or raise TokenRejected with the reason.

    ``cluster`` is the cluster whose apiserver asks (each cluster's apiserver
    calls ``/authenticate/<name>``): a token is only good for the cluster it names."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    url = decode_token(token)
    parts = urlsplit(url)
    if parts.netloc not in authority.sts_hosts:
        raise TokenRejected(f"token URL host {parts.netloc!r} is not an STS endpoint")
    if parts.path not in ("", "/"):
        raise TokenRejected("token URL path must be /")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise TokenRejected("duplicate query parameters")
    if params.get("Action") != "GetCallerIdentity":
        raise TokenRejected("token URL is not a GetCallerIdentity call")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise TokenRejected("token is not signed with AWS4-HMAC-SHA256")
    signed_headers = params.get("X-Amz-SignedHeaders", "").split(";")
    if CLUSTER_ID_HEADER not in signed_headers or "host" not in signed_headers:
        raise TokenRejected(f"{CLUSTER_ID_HEADER} is not a signed header")
    # The cluster id travels as a header the client signed; the apiserver only
    # sees the URL, so the header value is whatever makes the signature valid.
    # aws-iam-authenticator replays the URL with the header set to *its*
    # cluster id; for a local apiserver serving several emulated clusters we
    # try each candidate the signature could cover. Cluster name is therefore
    # bound by the signature itself.
    try:
        akid, date, region, service, terminator = params["X-Amz-Credential"].split("/")
        amz_date = datetime.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError) as e:
        raise TokenRejected(f"malformed presigned URL: {e}")
    if service != "sts" or terminator != "aws4_request":
        raise TokenRejected("token is not signed for sts")
    if now - amz_date > MAX_AGE:
        raise TokenRejected("token expired")
    if amz_date - now > CLOCK_SKEW:
        raise TokenRejected("token is from the future")
    secret = authority.secret_for(akid)
    if secret is None:
        raise TokenRejected("unknown access key")

    query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted((k, v) for k, v in pairs if k != "X-Amz-Signature")
    )
    scope = f"{date}/{region}/{service}/aws4_request"

    def matches(cluster: str) -> bool:
        headers = {"host": parts.netloc, CLUSTER_ID_HEADER: cluster}
        if set(signed_headers) - set(headers):
            return False
        canonical_headers = "".join(f"{h}:{headers[h]}\n" for h in signed_headers)
        for payload in (EMPTY_SHA256, "UNSIGNED-PAYLOAD"):
            canonical = "\n".join(["GET", "/", query, canonical_headers, ";".join(signed_headers), payload])
            sts = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
            if hmac.compare_digest(_signature(secret, date, region, service, sts), signature):
                return True
        return False

    return _identify(akid, authority, matches, cluster)


def _identify(akid: str, authority: Authority, matches: Callable[[str], bool], only: str | None = None) -> Identity:
    candidates = authority.clusters()
    if only is not None:
        candidates = [c for c in candidates if c == only]
    for cluster in candidates:
        if matches(cluster):
            user_id, arn, account = authority.caller_identity(akid)
            access = authority.access(cluster, arn)
            if access is None:
                raise TokenRejected(f"{arn} has no access entry on cluster {cluster!r}")
            return Identity(arn=arn, user_id=user_id, account=account, cluster=cluster,
                            username=access[0], groups=list(access[1]))
    raise TokenRejected("signature does not match (wrong secret, altered URL, or no such cluster)")


def review_response(token: str, authority: Authority, cluster: str | None = None) -> dict:
    """The TokenReview (authentication.k8s.io/v1) answer for ``token`` on ``cluster``'s apiserver."""
    try:
        ident = verify(token, authority, cluster=cluster)
    except TokenRejected as e:
        LOG.info("token refused: %s", e)
        return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                "status": {"authenticated": False, "error": str(e)}}
    LOG.info("token accepted: %s on %s", ident.arn, ident.cluster)
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "status": {
            "authenticated": True,
            "user": {
                "username": ident.username,
                "uid": f"aws-iam-authenticator:{ident.account}:{ident.user_id}",
                "groups": ident.groups + ["system:authenticated"],
                "extra": {"arn": [ident.arn], "accountId": [ident.account]},
            },
        },
    }


def serve(host: str, port: int, authority: Authority, extra_routes: dict[str, Callable[[dict], dict]] | None = None):
    """Serve TokenReviews on POST /authenticate (and local admin routes) in a thread."""
    routes = extra_routes or {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # route through logging
            LOG.debug(fmt, *args)

        def _reply(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/healthz":
                return self._reply(200, {"ok": True})
            self._reply(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._reply(400, {"error": "invalid JSON"})
            if self.path == "/authenticate" or self.path.startswith("/authenticate/"):
                token = (body.get("spec") or {}).get("token", "")
                cluster = self.path[len("/authenticate/"):] or None
                return self._reply(200, review_response(token, authority, cluster))
            handler = routes.get(self.path)
            if handler is None:
                return self._reply(404, {"error": "not found"})
            try:
                return self._reply(200, handler(body))
            except Exception as e:  # report to the caller, keep serving
                LOG.exception("admin route %s failed", self.path)
                return self._reply(500, {"error": str(e)})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, name="token-webhook", daemon=True)
    t.start()
    return server
