"""The Accounts service: client-credentials tokens, tracked server-side with an expiry.

Tokens are random opaque strings. A `token_expiry` fault makes them die early while the token
response still announces `expires_in: 3600`, the case a client cannot plan for and must survive by
fetching a new token when a request answers 401.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from pipeline.emulator.faults import RequestInfo
from pipeline.emulator.router import Request, Response, json_response

ANNOUNCED_TTL = 3600


class TokenStore:
    """Issued tokens and when each expires (monotonic clock)."""

    def __init__(self) -> None:
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}  # forget dead ones
            self._tokens[token] = now + ttl
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def authorized(self, request: Request) -> bool:
        """Whether the request carries `Authorization: Bearer <a live token>`."""
        scheme, _, token = request.header("authorization").partition(" ")
        return scheme.lower() == "bearer" and self.valid(token.strip())


def _credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str] | None:
    scheme, _, encoded = request.header("authorization").partition(" ")
    if scheme.lower() == "basic":
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None
    if "client_id" in form and "client_secret" in form:  # also accepted in the body, as Spotify does
        return form["client_id"][0], form["client_secret"][0]
    return None


def token_handler(
    client_id: str, client_secret: str, store: TokenStore, ttl: Callable[[], float]
) -> Callable[[Request], Response]:
    """The `POST /api/token` handler for one client's credentials."""
    info = RequestInfo("token")

    def handle(request: Request) -> Response:
        form = parse_qs(request.body.decode("utf-8", "replace"))
        if form.get("grant_type", [""])[0] != "client_credentials":
            payload = {
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be client_credentials",
            }
            return json_response(400, payload, info)
        creds = _credentials(request, form)
        if creds is None or not (
            hmac.compare_digest(creds[0].encode(), client_id.encode())
            and hmac.compare_digest(creds[1].encode(), client_secret.encode())
        ):
            return json_response(
                400, {"error": "invalid_client", "error_description": "Invalid client"}, info
            )
        token = store.issue(ttl())
        payload = {"access_token": token, "token_type": "Bearer", "expires_in": ANNOUNCED_TTL}
        return json_response(200, payload, info, {"Cache-Control": "no-store"})

    return handle
