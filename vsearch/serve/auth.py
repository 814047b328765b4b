"""Who may call: with a token, every request but /healthz carries `Authorization: Bearer TOKEN`
(or `?token=TOKEN`, for clients that cannot set headers, such as clip-retrieval's ClipClient).
The image URLs the service hands out carry a signature of their own path instead (`?sig=…`), so
that a browser can show them in <img> without ever seeing the token."""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

OPEN_PATHS = frozenset({"/healthz"})


class Auth:
    def __init__(self, token: str | None):
        self.token = token
        self._key = hashlib.sha256(b"vsearch-serve-url\0" + token.encode()).digest() if token else b""

    @property
    def required(self) -> bool:
        return self.token is not None

    def sign(self, path: str) -> str:
        """The `sig` of a URL path (empty without a token)."""
        if not self.token:
            return ""
        return hmac.new(self._key, path.encode(), hashlib.sha256).hexdigest()[:32]

    def signed(self, path: str) -> str:
        sig = self.sign(path)
        return f"{path}?sig={sig}" if sig else path

    def allows(self, scope: dict) -> bool:
        if self.token is None or scope["path"] in OPEN_PATHS or scope.get("method") == "OPTIONS":
            return True
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, given = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
                    return True
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if any(hmac.compare_digest(t.encode(), self.token.encode()) for t in query.get("token", ())[:1]):
            return True
        sig = query.get("sig", [""])[0]
        return (scope.get("method") == "GET" and bool(sig)
                and hmac.compare_digest(sig.encode(), self.sign(scope["path"]).encode()))
