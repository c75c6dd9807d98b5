"""A small typed client for the hub's native REST API (docs/design/rest-api.md).

The server answers errors as RFC 9457 problem details with a stable `code`; this module
maps the code (then the status, for codes it does not know) to a typed exception that
carries a "what to do next" hint for the CLI. Nothing here parses `detail` text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

import httpx

ProgressCallback = Callable[[int], None]
JSON = dict[str, Any]

_CHUNK = 256 * 1024


class CLIError(Exception):
    """An error the CLI reports as one message plus the next step, never a traceback."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class HubAPIError(CLIError):
    """The hub refused a request: `code` is the problem's stable machine code."""

    default_hint: ClassVar[str | None] = None

    def __init__(self, code: str, detail: str, status: int, *, problem: JSON | None = None) -> None:
        super().__init__(detail, hint=self.default_hint)
        self.code = code
        self.detail = detail
        self.status = status
        self.problem = problem or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status})"


class AuthError(HubAPIError, PermissionError):
    default_hint = "Run `envhub login` or set HUB_TOKEN."


class ForbiddenError(HubAPIError, PermissionError):
    default_hint = (
        "Your token may not do this: use a token with the needed scope, or ask an owner"
        " of the organization for write access (or push under your own name)."
    )


class NotFoundError(HubAPIError, LookupError):
    default_hint = (
        "Check OWNER/NAME[@VERSION] (try `envhub search`); private environments need"
        " `envhub login` first."
    )


class VersionExistsError(HubAPIError, FileExistsError):
    default_hint = "Bump the version in pyproject.toml and push again."


class ConflictError(HubAPIError):
    default_hint = "The request conflicts with the environment's current state."


class InvalidArchiveError(HubAPIError, ValueError):
    default_hint = (
        "Fix the package and push again; `python -m build --wheel` in the environment"
        " directory shows whether it builds cleanly."
    )


class UploadError(HubAPIError):
    default_hint = (
        "Run `envhub push` again: the upload may have been interrupted, its URL may have"
        " expired, or the files changed while uploading."
    )


class UploadTooLargeError(UploadError):
    default_hint = (
        "The file is over the hub's upload limit: exclude large data files (.gitignore)"
        " or ask the hub operator to raise HUB_MAX_UPLOAD_BYTES."
    )


class InvalidRequestError(HubAPIError, ValueError):
    default_hint = "Fix the request as the message says and try again."


class ServerError(HubAPIError):
    default_hint = "The hub failed; try again later, or ask its operator to check the logs."


class HubConnectionError(CLIError, ConnectionError):
    """The hub could not be reached at all."""


_BY_CODE: dict[str, type[HubAPIError]] = {
    "unauthorized": AuthError,
    "forbidden": ForbiddenError,
    "not-found": NotFoundError,
    "version-exists": VersionExistsError,
    "invalid-archive": InvalidArchiveError,
    "upload-too-large": UploadTooLargeError,
    "upload-incomplete": UploadError,
    "sha256-mismatch": UploadError,
    "size-mismatch": UploadError,
    # The hub's own upload URLs (local storage) and pending uploads expire: push again.
    # Without these, a 403 signed-url-* read as a token-scope problem, a 410 had no hint.
    "signed-url-expired": UploadError,
    "signed-url-invalid": UploadError,
    "upload-expired": UploadError,
}
# Families of codes the contract names by prefix (`archive-*`, `wheel-*`).
_BY_PREFIX: tuple[tuple[str, type[HubAPIError]], ...] = (
    ("archive-", InvalidArchiveError),
    ("wheel-", InvalidArchiveError),
)
_BY_STATUS: dict[int, type[HubAPIError]] = {
    400: InvalidRequestError,
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: UploadTooLargeError,
    422: InvalidRequestError,
}


def error_class_for(code: str, status: int) -> type[HubAPIError]:
    """The exception type for a problem: by exact code, then code family, then status."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    for prefix, cls in _BY_PREFIX:
        if code.startswith(prefix):
            return cls
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, HubAPIError)


def _detail_text(detail: Any) -> str:
    # Request-validation failures may carry a list of {loc, msg} objects.
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def error_from_response(response: httpx.Response) -> HubAPIError:
    """Build the typed error for a non-2xx response (problem JSON or anything else)."""
    status = response.status_code
    problem: JSON = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        problem = body
    code = str(problem.get("code") or f"http-{status}")
    raw_detail = problem.get("detail") or problem.get("title")
    if raw_detail:
        detail = _detail_text(raw_detail)
    else:
        # Not a problem document (a proxy page, S3 XML): show the start of it.
        text = response.text.strip()[:300]
        detail = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    return error_class_for(code, status)(code, detail, status, problem=problem)


def _user_agent() -> str:
    try:
        return f"envhub-cli/{version('envhub')}"
    except PackageNotFoundError:
        return "envhub-cli"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _file_chunks(path: Path, on_progress: ProgressCallback | None) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if on_progress is not None:
                on_progress(len(chunk))
            yield chunk


class HubClient:
    """Calls `/api/v1` on one hub; `token` (if any) is sent as a Bearer token."""

    def __init__(
        self,
        hub_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.token = token
        headers = {"User-Agent": _user_agent(), "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._api = httpx.Client(
            base_url=f"{self.hub_url}/api/v1/",
            headers=headers,
            transport=transport,
            timeout=timeout,
        )
        # Upload URLs are capabilities: they must never receive the Bearer token, so they
        # go through a client that has none.
        self._blob = httpx.Client(
            headers={"User-Agent": _user_agent()},
            transport=transport,
            timeout=httpx.Timeout(timeout, read=300.0, write=300.0),
            follow_redirects=True,
        )

    def close(self) -> None:
        self._api.close()
        self._blob.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------

    def _send(self, client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise HubConnectionError(
                f"The hub at {self.hub_url} did not answer in time ({exc}).",
                hint="Try again; check your network or the hub's health.",
            ) from exc
        except httpx.HTTPError as exc:
            raise HubConnectionError(
                f"Cannot reach the hub at {self.hub_url}: {exc}",
                hint="Check the URL (`envhub login --url URL` or HUB_URL) and that the hub"
                " is running.",
            ) from exc
        if response.is_success:
            return response
        raise error_from_response(response)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(self._api, method, path.lstrip("/"), **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            # A 200 HTML page usually means the URL points at something else (a proxy,
            # the web app under another path), not at a hub's API.
            raise HubConnectionError(
                f"{response.url} did not answer with JSON; is {self.hub_url} an Environments Hub?",
                hint="Check the URL (`envhub login --url URL` or HUB_URL).",
            ) from exc

    def _env_path(self, owner: str, name: str) -> str:
        return f"environments/{_seg(owner)}/{_seg(name)}"

    def absolute_url(self, url: str) -> str:
        """Resolve a URL the server returned, which may be relative to the hub."""
        return urljoin(self.hub_url + "/", url)

    # -- accounts ---------------------------------------------------------------------

    def me(self) -> JSON:
        result: JSON = self._call("GET", "users/me")
        return result

    # -- environments -----------------------------------------------------------------

    def list_environments(
        self,
        *,
        q: str | None = None,
        owner: str | None = None,
        tags: list[str] | None = None,
        sort: str | None = None,
        order: str | None = None,
        page: int = 1,
        per_page: int = 20,
    ) -> JSON:
        params: list[tuple[str, str | int]] = [("page", page), ("per_page", per_page)]
        for key, value in (("q", q), ("owner", owner), ("sort", sort), ("order", order)):
            if value:
                params.append((key, value))
        params += [("tag", tag) for tag in tags or []]
        result: JSON = self._call("GET", "environments", params=params)
        return result

    def get_environment(self, owner: str, name: str) -> JSON:
        result: JSON = self._call("GET", self._env_path(owner, name))
        return result

    def list_versions(self, owner: str, name: str) -> list[JSON]:
        result: list[JSON] = self._call("GET", f"{self._env_path(owner, name)}/versions")
        return result

    def get_version(self, owner: str, name: str, version: str = "latest") -> JSON:
        path = f"{self._env_path(owner, name)}/versions/{_seg(version)}"
        result: JSON = self._call("GET", path)
        return result

    def yank(self, owner: str, name: str, version: str, reason: str) -> JSON | None:
        path = f"{self._env_path(owner, name)}/versions/{_seg(version)}/yank"
        result: JSON | None = self._call("POST", path, json={"reason": reason})
        return result

    def unyank(self, owner: str, name: str, version: str) -> JSON | None:
        path = f"{self._env_path(owner, name)}/versions/{_seg(version)}/unyank"
        result: JSON | None = self._call("POST", path)
        return result

    # -- publishing -------------------------------------------------------------------

    def register_upload(self, owner: str, name: str, body: JSON) -> JSON:
        """Step 1. The answer has `already_published: true` when nothing is left to do."""
        result: JSON = self._call("POST", f"{self._env_path(owner, name)}/uploads", json=body)
        return result

    def upload_file(
        self, upload_url: str, path: Path, *, on_progress: ProgressCallback | None = None
    ) -> None:
        """Step 2: stream the file to its signed URL, without the Authorization header."""
        size = path.stat().st_size
        # An explicit Content-Length keeps httpx from chunked encoding, which presigned
        # S3 PUTs refuse.
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            self._send(
                self._blob,
                "PUT",
                self.absolute_url(upload_url),
                content=_file_chunks(path, on_progress),
                headers=headers,
            )
        except HubAPIError as exc:
            if isinstance(exc, UploadError) or exc.problem.get("code"):
                raise
            # A bare storage error (S3 XML, an expired signature): the fix is to retry.
            raise UploadError("upload-failed", exc.detail, exc.status) from exc

    def finalize_upload(self, upload_id: str | int) -> JSON:
        """Step 3: the hub verifies and publishes; answers the VersionOut."""
        result: JSON = self._call("POST", f"uploads/{_seg(str(upload_id))}/finalize")
        return result

    # -- downloads --------------------------------------------------------------------

    def download(
        self, url: str, dest: Path, *, on_progress: ProgressCallback | None = None
    ) -> None:
        """Stream `url` (a hub download URL, maybe redirecting to storage) into `dest`.

        httpx drops the Authorization header when a redirect leaves the hub's origin, so
        a presigned storage URL never sees the token.
        """
        target = self.absolute_url(url)
        try:
            with self._api.stream("GET", target, follow_redirects=True) as response:
                if not response.is_success:
                    response.read()
                    raise error_from_response(response)
                with dest.open("wb") as handle:
                    for chunk in response.iter_bytes(_CHUNK):
                        handle.write(chunk)
                        if on_progress is not None:
                            on_progress(len(chunk))
        except httpx.HTTPError as exc:
            raise HubConnectionError(
                f"Download from {target} failed: {exc}", hint="Try again."
            ) from exc
