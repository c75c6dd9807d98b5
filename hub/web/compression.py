"""Response compression: content negotiation and the gzip middleware.

Hashed web assets are compressed once at build time (`frontend/scripts/compress-dist.mjs`
writes `.br` and `.gz` next to them) and served by `hub.web.spa`. Everything else the hub
answers with a compressible body over ~1 KiB (API JSON, package index pages, the SPA's
index.html) is gzipped on the fly when the client accepts gzip. Never compressed: file
downloads (`application/octet-stream`, redirects have no body), server-sent events
(`text/event-stream`: a compressor would hold events back), already encoded bodies
(`Content-Encoding` set, e.g. a pre-compressed asset) and partial content (206).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

MINIMUM_SIZE = 1024
GZIP_LEVEL = 6  # nearly level 9's size for JSON at a fraction of its CPU
NEVER_COMPRESSED = (*DEFAULT_EXCLUDED_CONTENT_TYPES, "application/octet-stream")


def accepted_codings(accept_encoding: str | None) -> set[str]:
    """The content codings an Accept-Encoding header allows (q > 0), lower-cased.

    `*` stands for any coding the header does not name; `x-gzip` is `gzip`.
    """
    named: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        named["gzip" if coding == "x-gzip" else coding] = q
    wildcard = named.pop("*", 0.0)
    accepted = {c for c, q in named.items() if q > 0}
    if wildcard > 0:
        accepted |= {c for c in ("br", "gzip") if c not in named}
    return accepted


class CompressResponses:
    """Starlette's GZipMiddleware, entered only when the client really accepts gzip.

    (Starlette looks for the substring "gzip", so `gzip;q=0` would get gzip.)
    """

    def __init__(self, app: ASGIApp, minimum_size: int = MINIMUM_SIZE,
                 level: int = GZIP_LEVEL) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=level,
                                   exclude_content_types=NEVER_COMPRESSED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "gzip" in accepted_codings(
                Headers(scope=scope).get("accept-encoding")):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
