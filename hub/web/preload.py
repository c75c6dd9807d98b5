"""Which API requests the web catalog's first render makes, so index.html can preload them.

The home page and the catalog ask for their data only after React's first render, about
a JavaScript download and parse after the HTML arrived. A `<link rel="preload" as="fetch"
crossorigin>` for the same URL starts that request while the HTML is parsed, and the
browser hands the response to the page's own `fetch` (same URL, same credentials mode).

The URL must be exactly the one the page builds, or the browser fetches twice. This is a
port of `frontend/src/lib/catalogQuery.ts` (`parseCatalogParams`, `toApiQuery`) and of
openapi-fetch's query serializer (`encodeURIComponent`, arrays as repeated keys, keys in
`toApiQuery`'s order). `frontend/src/lib/preloadCases.json` holds cases that both this
module (tests/web/test_spa_prefetch.py) and the real page (`preload.test.tsx`) must
answer alike.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote

PER_PAGE = 50  # catalogQuery.ts PER_PAGE
HOME = (  # HomePage.tsx: popular, recently updated, tag chips
    "/api/v1/environments?sort=downloads&order=desc&per_page=6",
    "/api/v1/environments?sort=updated&order=desc&per_page=6",
    "/api/v1/tags?limit=24",
)
_RUNTIMES = {"v0", "v1", "unknown"}
_SORTS = {"name", "updated", "created", "downloads", "stars"}
# ECMAScript WhiteSpace and LineTerminator: what String.prototype.trim() removes.
_JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_JS_INT = re.compile(r"[+-]?[0-9]+")
_MAX_PAGE = 10**15  # JS prints larger numbers in other ways; no preload then


def _encode(value: str) -> str:
    """JavaScript's encodeURIComponent."""
    return quote(value, safe="!'()*")


def _parse_int(text: str) -> int | None:
    """Number.parseInt(text, 10); None for NaN."""
    m = _JS_INT.match(text.lstrip(_JS_SPACE))
    return int(m.group()) if m else None


def catalog_api_url(query: str) -> str | None:
    """The `/api/v1/environments` URL the catalog page requests for `/environments?<query>`."""
    params = parse_qsl(query, keep_blank_values=True)

    def first(name: str) -> str | None:
        return next((v for k, v in params if k == name), None)

    tags: list[str] = []
    for key, value in params:
        tag = value.strip(_JS_SPACE)
        if key == "tag" and tag and tag not in tags:
            tags.append(tag)
    q = (first("q") or "").strip(_JS_SPACE)
    owner = (first("owner") or "").strip(_JS_SPACE)
    runtime = first("runtime") or ""
    sort = first("sort") or ""
    page = _parse_int(first("page") or "1")
    if page is not None and page > _MAX_PAGE:
        return None
    page = page if page is not None and page > 0 else 1
    sort = sort if sort in _SORTS else ("" if q else "downloads")
    pairs = [("q", q)] + [("tag", t) for t in tags] + [
        ("owner", owner),
        ("runtime", runtime if runtime in _RUNTIMES else ""),
        ("sort", sort),
        ("order", ("asc" if sort == "name" else "desc") if sort else ""),
        ("page", str(page)),
        ("per_page", str(PER_PAGE)),
    ]
    return "/api/v1/environments?" + "&".join(f"{k}={_encode(v)}" for k, v in pairs if v)


def preload_urls(path: str, query: str) -> list[str]:
    """API URLs the page at `path?query` requests on its first render (maybe none)."""
    route = path.rstrip("/").lower()  # React Router matches case-insensitively
    if route == "":
        return list(HOME)
    if route == "/environments":
        url = catalog_api_url(query)
        return [url] if url else []
    return []
