"""The storage host of signed downloads: a second loopback origin serving files by signed URL.

With `downloads="signed"` a Bulk API file request answers a redirect to this host, as the real API
redirects to pre-signed Google Cloud Storage URLs. The URL is only good for `signed_url_ttl_seconds`
and only as issued: its query carries an expiry and an HMAC of the path and expiry under a secret
drawn per run (`X-Goog-*` parameters, as GCS's V4 signatures). Like GCS, this host refuses a request
that carries an `Authorization` header as well (400), so a client must not forward its bearer token
across origins; every request's header names are recorded so tests can prove it never did.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from pipeline.emulator.faults import RequestInfo
from pipeline.emulator.router import Request, Response, Router

BUCKET = "emulator-bulk-exports"
_ALGORITHM = "GOOG4-HMAC-SHA256"
_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_SIGNER = "emulator@spotify-bulk.iam.gserviceaccount.com"

# (Bulk API path segments after the base: licensor, enhanced, report, y, m, d[, country]) -> the file
Locate = Callable[[list[str]], Response]


@dataclass(frozen=True)
class StorageRequest:
    """One request the storage host answered: path (never the query: it is a credential), header names."""

    method: str
    path: str
    header_names: tuple[str, ...]  # lower-cased
    status: int  # as the handler answered it (transport faults may have replaced it on the wire)


def storage_error(status: int, code: str, message: str, info: RequestInfo | None = None) -> Response:
    """An error in the XML shape of Google Cloud Storage."""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    headers = {"Content-Type": "application/xml; charset=UTF-8"}
    return Response(status, body, headers, info=info or RequestInfo("storage"))


def expired_token() -> Response:
    """What the storage host answers for an expired signed URL."""
    return storage_error(403, "ExpiredToken", "Invalid argument: the signed URL has expired.")


class StorageHost:
    """Signs download URLs for the Bulk API and serves them; `base_url` is set once it listens."""

    def __init__(self, locate: Locate, ttl_seconds: int, content_encoding: str) -> None:
        self._locate = locate
        self._ttl = ttl_seconds
        self._encoding = content_encoding
        self._secret = secrets.token_bytes(32)  # per run: URLs of another run never verify
        self._lock = threading.Lock()
        self._requests: list[StorageRequest] = []
        self.base_url = ""

    def register(self, router: Router) -> None:
        router.add("GET", f"/{BUCKET}/(?P<rest>.+)", self.handle)

    def _signature(self, path: str, issued: str, expires: str) -> str:
        text = f"GET\n{path}\n{issued}\n{expires}"
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def sign(self, api_path: str) -> str:
        """A signed URL, valid for the configured TTL from now, for a Bulk API file path (`/acme/...`)."""
        path = f"/{BUCKET}{quote(api_path)}"
        issued = datetime.now(UTC).strftime(_DATE_FORMAT)
        expires = str(self._ttl)
        query = {
            "X-Goog-Algorithm": _ALGORITHM,
            "X-Goog-Credential": f"{_SIGNER}/{issued[:8]}/auto/storage/goog4_request",
            "X-Goog-Date": issued,
            "X-Goog-Expires": expires,
            "X-Goog-SignedHeaders": "host",
            "X-Goog-Signature": self._signature(path, issued, expires),
        }
        return f"{self.base_url}{path}?{urlencode(query)}"

    # -- observing ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[StorageRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def requests_with_authorization(self) -> int:
        return sum("authorization" in r.header_names for r in self.requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- serving -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        response = self._answer(request)
        names = tuple(sorted(request.headers))
        with self._lock:
            self._requests.append(StorageRequest(request.method, request.path, names, response.status))
        return response

    def _answer(self, request: Request) -> Response:
        if "authorization" in request.headers:
            return storage_error(
                400,
                "InvalidArgument",
                "Multiple authentication mechanisms: a signed URL must not carry an Authorization header.",
            )
        query = {k: v[0] for k, v in request.query.items() if v}
        issued, expires, signature = (
            query.get(k, "") for k in ("X-Goog-Date", "X-Goog-Expires", "X-Goog-Signature")
        )
        if not (issued and expires and signature):
            return storage_error(
                403, "AccessDenied", "Anonymous caller does not have storage.objects.get access."
            )
        if not hmac.compare_digest(signature, self._signature(request.path, issued, expires)):
            message = "The request signature we calculated does not match the signature you provided."
            return storage_error(403, "SignatureDoesNotMatch", message)
        start = datetime.strptime(issued, _DATE_FORMAT).replace(tzinfo=UTC).timestamp()  # we signed it
        if time.time() >= start + int(expires):
            return expired_token()
        found = self._locate([s for s in request.params["rest"].split("/") if s])
        if found.status != 200 or found.info.scope != "files":
            return storage_error(404, "NoSuchKey", "The specified key does not exist.")
        return self._body(found)

    def _body(self, found: Response) -> Response:
        headers = {k: v for k, v in found.headers.items() if k != "Content-Type"}
        if self._encoding == "gzip":
            headers |= {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        else:
            headers["Content-Type"] = "application/gzip"
        return replace(found, headers=headers, info=replace(found.info, scope="storage"))
