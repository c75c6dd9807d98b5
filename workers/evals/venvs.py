"""Prepared virtualenvs for evaluations, cached by what is actually installed.

One cache entry per (environment, wheel sha256, runtime, interpreter) (+ the declared
content hash and the version, as extras that can only split entries):

    <cache>/entries/<key>/venv/          the env installed from the hub's own index
    <cache>/entries/<key>/wheelhouse/    wheels the v1 harness program installs at run time
    <cache>/entries/<key>/empty-index/   an empty dir: UV_DEFAULT_INDEX inside the sandbox
    <cache>/entries/<key>/manifest.json  what is in it (written last, before publishing)

An entry is built in `<cache>/tmp/<key>-<random>/` and published with one `rename()`, so
a reader sees a complete entry or none; a per-key `flock` makes concurrent preparers on
one host wait for the first instead of building twice (and a preparer that loses a
rename race on a shared filesystem discards its copy). The venv is made with
`uv venv --relocatable` so it keeps working after the rename, and its bytecode is
compiled with the FINAL path as the source prefix: the venv is read-only in the
sandbox, and tracebacks should name files that exist.

SECURITY: what gets installed is untrusted (the environment's wheel and its whole
dependency graph). Nothing from it may run on the worker host, so:

- the venv's interpreter is never started once anything is installed in it (a `.pth`
  file or `sitecustomize` in its site-packages runs at interpreter start-up). uv queries
  it once, before the install, while the venv holds only what `uv venv` put there.
  Bytecode is compiled by the BASE interpreter the venv was created from (`-I -S`: no
  site-packages, no PYTHON* variables), so the bytecode matches the venv's Python; the v1
  wheelhouse is downloaded by the worker's own pip (`--only-binary=:all:`, tags of the
  venv's Python version);
- `uv pip install --no-build`: no sdist of the graph is built on the host (no build
  backend, no setup.py). An environment that needs one fails with `sdist_not_allowed`;
- every host subprocess gets a scrubbed environment (`build_env`): PATH, a throwaway
  HOME, the uv/pip cache dirs, proxy and CA settings, and the index URLs. Never the
  worker's HUB_* settings, database URL or cloud keys;
- index URLs (which may embed a read token) reach uv/pip through UV_INDEX_URL /
  UV_EXTRA_INDEX_URL / PIP_INDEX_URL, never the command line (/proc/<pid>/cmdline is
  world-readable, /proc/<pid>/environ is not);
- the environment's own requirement is pinned to the wheel sha256 the hub recorded
  (`--hash`), so the entry's key names the bytes that were installed;
- after the install, `pyvenv.cfg` and the `bin/python*` links must be exactly what
  `uv venv` wrote (a wheel's `<name>.data/data/pyvenv.cfg` lands on the venv's own, and
  the sandbox binds the interpreter prefix its `home` names): `venv_tampered` otherwise.

Installation: `uv pip install --no-config --no-build -r <requirements>` with
UV_INDEX_URL=<extra_index_url> and UV_EXTRA_INDEX_URL=<hub package index>. uv's default
index strategy takes a name from the first index that has it, and extra indexes come
first: the environment's own name always resolves on the hub, never on PyPI.

Offline run time (v1): verifiers 0.4's subprocess runtime `uv sync --script`s its chat
program (PEP 723 deps: openai, mcp, httpx, ...) before each harness runs. The venv gets
`uv` itself, the wheelhouse gets those deps (read from the installed verifiers source,
not guessed, and only plain `name[extras] <specifiers>` requirements are accepted from
it), and the sandbox gets UV_FIND_LINKS=<wheelhouse> and
UV_DEFAULT_INDEX=file://<empty-index>: uv resolves from the wheelhouse and can reach
nothing else (the sandbox has no network anyway; this makes it fail fast and clearly).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from workers.evals.spec import EvalRunSpec

CACHE_FORMAT = 2  # bump when the entry layout, what goes into it or how it is built changes
# The PEP 723 header of verifiers 0.4's chat program (bash and null harnesses), used if
# it cannot be read from the installed source.
V1_HARNESS_DEPS_FALLBACK = ("openai", "mcp==2.0.0", "httpx", "httpx2", "tenacity", "certifi")
_PEP723_DEPS = re.compile(r"#\s*dependencies\s*=\s*(\[[^\]\n]*\])")
_TRANSIENT = re.compile(r"(?i)(timed? ?out|connection (refused|reset)|temporar|dns|"
                        r"network is unreachable|failed to fetch|503|502|504|429)")
# uv's resolver error when a package of the graph has only an sdist and --no-build is set.
_NEEDS_BUILD = re.compile(r"(?i)(building from source is disabled|no usable wheels|"
                          r"building source distributions is disabled)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# What a host subprocess of the build may see of the worker's environment: how to reach
# the network (proxies, CAs, timeouts). Everything else (HUB_*, database URLs, cloud
# keys, the worker's own UV_*/PIP_* configuration) stays out.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR",
              "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
              "http_proxy", "https_proxy", "all_proxy", "no_proxy",
              "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "UV_NATIVE_TLS", "UV_HTTP_TIMEOUT",
              "UV_CONCURRENT_DOWNLOADS")


class VenvPrepareError(Exception):
    """The venv could not be prepared. `transient` says whether retrying may help (the
    index or PyPI was unreachable) or not (no such version, unresolvable dependencies,
    wrong verifiers generation, an sdist in the graph, a tampered venv)."""

    def __init__(self, code: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@")


def redact_url(text: str) -> str:
    """`https://user:token@host/x` -> `https://***@host/x`, anywhere in `text` (index URLs
    may embed a token; tool output may echo them)."""
    return _CREDENTIALS.sub(r"\1***@", text)


@dataclass(frozen=True)
class PreparedVenv:
    root: Path
    key: str
    runtime: str
    verifiers_version: str | None

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        """The venv's interpreter: for use INSIDE the sandbox only (it would process the
        untrusted site-packages' `.pth` files on the host)."""
        return self.venv / "bin" / "python"

    @property
    def wheelhouse(self) -> Path:
        return self.root / "wheelhouse"

    @property
    def empty_index(self) -> Path:
        return self.root / "empty-index"

    def sandbox_env(self) -> dict[str, str]:
        """Variables that keep every uv/pip/HF call inside the sandbox offline."""
        return {
            "UV_FIND_LINKS": str(self.wheelhouse),
            "UV_DEFAULT_INDEX": self.empty_index.as_uri(),
            "UV_INDEX_URL": self.empty_index.as_uri(),  # older uv spelling
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.wheelhouse),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
        }

    def sandbox_binds(self) -> list[tuple[Path, str]]:
        """Read-only binds besides the venv itself (same path inside as outside)."""
        return [(self.wheelhouse, str(self.wheelhouse)),
                (self.empty_index, str(self.empty_index))]


def _default_uv() -> str:
    try:
        from uv import find_uv_bin  # the `uv` PyPI package, if installed

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else (shutil.which("uv") or "uv")


def _default_python() -> str:
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(base if base.exists() else Path(sys.executable).resolve())


def _cache_dir(tool: str, environ: Mapping[str, str]) -> str:
    """The tool's own default cache dir, as the worker's real HOME would give it: builds
    run with a throwaway HOME but keep the (content-addressed) download caches warm."""
    explicit = environ.get(f"{tool.upper()}_CACHE_DIR")
    if explicit:
        return explicit
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(environ.get("HOME") or Path.home()) / ".cache"
    return str(base / tool)


def build_env(home: Path, *, environ: Mapping[str, str] | None = None,
              **extra: str) -> dict[str, str]:
    """The whole environment of a host subprocess of a venv build (see the module
    docstring): an allowlist of the worker's variables, a throwaway HOME (no ~/.netrc,
    ~/.config/pip, ~/.config/uv of the worker), no configuration files, and `extra`
    (the index URLs)."""
    environ = os.environ if environ is None else environ
    env = {k: environ[k] for k in PASSED_ENV if environ.get(k)}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "UV_CACHE_DIR": _cache_dir("uv", environ), "PIP_CACHE_DIR": _cache_dir("pip", environ),
        "UV_NO_CONFIG": "1", "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1",
        "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    })
    env.update(extra)
    return env


def _worker_pip(base_python: str) -> list[str]:
    """The worker's own pip (its interpreter, isolated mode); else the base interpreter's.
    Never the prepared venv's."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-I", "-m", "pip"]
    return [base_python, "-I", "-m", "pip"]


@dataclass(frozen=True)
class _Identity:
    """What `uv venv` wrote that the host trusts later: pyvenv.cfg (its `home` decides
    what the sandbox binds) and the bin/python* links."""

    cfg: bytes
    links: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, venv: Path, like: _Identity | None = None) -> _Identity:
        """Read now; with `like`, the links of the same names (new `python*` files that
        packages install are not the venv's interpreter and never run on the host)."""
        try:
            cfg = (venv / "pyvenv.cfg").read_bytes()
        except OSError:
            cfg = b""
        names = ([n for n, _ in like.links] if like is not None
                 else sorted(p.name for p in (venv / "bin").glob("python*")))
        links = []
        for name in names:
            path = venv / "bin" / name
            links.append((name, os.readlink(path) if path.is_symlink() else None))
        return cls(cfg, tuple(links))

    def value(self, key: str) -> str | None:
        for line in self.cfg.decode(errors="replace").splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == key:
                return value.strip()
        return None


class VenvCache:
    """`prepare(spec)` returns a ready `PreparedVenv`, building it at most once per key."""

    def __init__(self, root: Path, *, uv: str | None = None, python: str | None = None,
                 timeout_s: float = 1800.0, lock_timeout_s: float = 3600.0) -> None:
        self.root = Path(root)
        self.uv = uv or _default_uv()
        python = python or _default_python()
        if os.sep not in python:  # a bare name: the interpreter PATH gives
            python = shutil.which(python) or python
        # Absolute, as `uv venv` writes it into pyvenv.cfg `home` and the bin/python link.
        self.python = str(Path(python).absolute())
        self.timeout_s = timeout_s
        self.lock_timeout_s = lock_timeout_s
        for sub in ("entries", "tmp", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def key(self, spec: EvalRunSpec) -> str:
        # What is installed: the environment, the exact wheel bytes (sha256, pinned at
        # install), the runtime and the interpreter. The index URLs are not part of it;
        # the publisher-declared content hash only as an extra (it can split entries,
        # never make two environments share one).
        ident = json.dumps([CACHE_FORMAT, spec.environment or spec.dist_name,
                            spec.dist_name.lower(), spec.version, spec.wheel_sha256.lower(),
                            spec.runtime, self.python, spec.content_hash], sort_keys=True)
        return hashlib.sha256(ident.encode()).hexdigest()[:32]

    def get(self, spec: EvalRunSpec) -> PreparedVenv | None:
        return self._load(self.root / "entries" / self.key(spec))

    def prepare(self, spec: EvalRunSpec, log_path: Path | None = None) -> PreparedVenv:
        """Raises `VenvPrepareError`. Safe to call from several threads and processes."""
        if spec.wheel_sha256 and not _SHA256.fullmatch(spec.wheel_sha256.lower()):
            raise VenvPrepareError("invalid_wheel_hash",
                                   f"not a sha256 hex digest: {spec.wheel_sha256!r}")
        key = self.key(spec)
        final = self.root / "entries" / key
        ready = self._load(final)
        if ready is not None:
            return ready
        with self._locked(key):
            ready = self._load(final)
            if ready is not None:
                return ready
            for stale in (self.root / "tmp").glob(f"{key}-*"):  # a crashed build of ours
                shutil.rmtree(stale, ignore_errors=True)
            build = self.root / "tmp" / f"{key}-{uuid.uuid4().hex[:8]}"
            home = build.with_name(build.name + "-home")
            try:
                self._build(spec, build, final, home, log_path)
                try:
                    os.rename(build, final)
                except OSError:
                    if self._load(final) is None:  # not a lost race: a real failure
                        raise
            finally:
                shutil.rmtree(build, ignore_errors=True)
                shutil.rmtree(home, ignore_errors=True)
        ready = self._load(final)
        if ready is None:
            raise VenvPrepareError("venv_broken", f"cache entry {final} is incomplete")
        return ready

    # -- internals -------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        with (self.root / "locks" / f"{key}.lock").open("a") as fh:
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise VenvPrepareError("venv_lock_timeout", "another worker has been "
                                               f"preparing {key} for too long",
                                               transient=True) from None
                    time.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _load(root: Path) -> PreparedVenv | None:
        try:
            manifest = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("format") != CACHE_FORMAT or not (root / "venv" / "bin").is_dir():
            return None
        return PreparedVenv(root=root, key=root.name, runtime=str(manifest["runtime"]),
                            verifiers_version=manifest.get("verifiers_version"))

    def _run(self, argv: list[str], log_path: Path | None, what: str, *, env: dict[str, str],
             must_succeed: bool = True) -> None:
        """Run one host step of the build with exactly `env` (from `build_env`)."""
        shown = " ".join(redact_url(a) for a in argv)
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                                  stdin=subprocess.DEVNULL, timeout=self.timeout_s,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            raise VenvPrepareError("venv_timeout", f"{what} took over {self.timeout_s:g}s",
                                   transient=True) from exc
        except OSError as exc:
            raise VenvPrepareError("venv_tool_missing", f"{what}: {exc}") from exc
        output = redact_url(proc.stdout + proc.stderr)
        if log_path is not None:
            with log_path.open("a") as log:
                log.write(f"[envhub-venv] $ {shown}\n{output}\n")
        if proc.returncode != 0 and must_succeed:
            tail = output[-3000:]
            if _NEEDS_BUILD.search(tail):
                raise VenvPrepareError(
                    "sdist_not_allowed", f"{what} failed: a package of the dependency graph "
                    "has no wheel for this platform and building source distributions is "
                    f"disabled on evaluation workers: {tail}")
            raise VenvPrepareError("install_failed", f"{what} failed: {tail}",
                                   transient=bool(_TRANSIENT.search(tail)))

    def _build(self, spec: EvalRunSpec, build: Path, final: Path, home: Path,
               log_path: Path | None) -> None:
        started = time.monotonic()
        venv = build / "venv"
        (build / "wheelhouse").mkdir(parents=True)
        (build / "empty-index").mkdir()
        home.mkdir(parents=True)
        plain = build_env(home)
        self._run([self.uv, "venv", "--no-config", "--relocatable", "--quiet",
                   "--python", self.python, str(venv)], log_path, "creating the venv",
                  env=plain)
        created = _Identity.of(venv)
        self._check_created(created)
        requirement = f"{spec.dist_name}=={spec.version}"
        pinned = requirement + (f" --hash=sha256:{spec.wheel_sha256.lower()}"
                                if spec.wheel_sha256 else "")
        # `uv` for the v1 runtime's `uv sync --script` (it finds it on PATH in the venv).
        requirements = home / "requirements.txt"
        requirements.write_text(pinned + ("\nuv\n" if spec.runtime == "v1" else "\n"))
        # uv starts the venv's interpreter once, to query it, before installing anything:
        # after this command nothing runs the venv's interpreter on the host.
        self._run([self.uv, "pip", "install", "--no-config", "--no-build",
                   "--python", str(venv / "bin" / "python"), "-r", str(requirements)],
                  log_path, f"installing {requirement}",
                  env=build_env(home, UV_INDEX_URL=spec.extra_index_url,
                                UV_EXTRA_INDEX_URL=spec.index_url))
        self._check_untouched(venv, created)
        verifiers = _installed_version(venv, "verifiers")
        _check_generation(spec, verifiers)
        if spec.runtime == "v1":
            deps = v1_harness_requirements(venv)
            # The worker's pip, for the venv's Python version (same platform): binary
            # wheels only, so nothing is built here either.
            self._run([*_worker_pip(self.python), "download", "--quiet",
                       "--only-binary=:all:", "--python-version", created_version(created),
                       "--implementation", "cp", "--dest", str(build / "wheelhouse"),
                       "uv", *deps], log_path, "downloading the harness wheelhouse",
                      env=build_env(home, PIP_INDEX_URL=spec.extra_index_url))
        # Bytecode with the final path as source prefix (see the module docstring), by the
        # base interpreter the venv was made from (so the magic number and cache tag are
        # the venv's), isolated (-I) and without site (-S): the venv's .pth files are not
        # even on its path. Some packages ship files that do not compile (templates, py2
        # tests): not fatal. -j 0: one process per core; compiling is most of a prepare.
        self._run([self.python, "-I", "-S", "-m", "compileall", "-q", "-j", "0",
                   "-s", str(venv), "-p", str(final / "venv"), str(venv / "lib")],
                  log_path, "compiling bytecode", env=plain, must_succeed=False)
        self._check_untouched(venv, created)
        manifest = {"format": CACHE_FORMAT, "environment": spec.environment,
                    "dist_name": spec.dist_name, "version": spec.version,
                    "wheel_sha256": spec.wheel_sha256, "content_hash": spec.content_hash,
                    "runtime": spec.runtime, "verifiers_version": verifiers,
                    "python": self.python, "built_s": round(time.monotonic() - started, 1),
                    "wheelhouse": sorted(p.name for p in (build / "wheelhouse").iterdir())}
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2))

    def _check_created(self, created: _Identity) -> None:
        """`uv venv` made what we asked for: home = the interpreter's directory."""
        expected = str(Path(self.python).parent)
        if created.value("home") != expected:
            raise VenvPrepareError(
                "venv_broken", f"uv venv wrote home={created.value('home')!r} to pyvenv.cfg,"
                f" not the directory of {self.python}")
        if dict(created.links).get("python") != self.python:
            raise VenvPrepareError(
                "venv_broken", f"uv venv's bin/python is not a link to {self.python}: "
                f"{dict(created.links).get('python')!r}")

    @staticmethod
    def _check_untouched(venv: Path, created: _Identity) -> None:
        now = _Identity.of(venv, like=created)
        if now != created:
            changed = ["pyvenv.cfg"] if now.cfg != created.cfg else []
            changed += sorted({n for n, _ in set(now.links) ^ set(created.links)})
            raise VenvPrepareError(
                "venv_tampered", "the installed packages overwrote files of the venv itself "
                f"({', '.join(changed)}); refusing to use it")


def created_version(created: _Identity) -> str:
    """`X.Y` of the venv's Python, from the pyvenv.cfg `uv venv` wrote."""
    full = created.value("version_info") or created.value("version") or ""
    parts = re.findall(r"\d+", full)[:2]
    if len(parts) < 2:
        raise VenvPrepareError("venv_broken", f"pyvenv.cfg names no Python version: {full!r}")
    return ".".join(parts)


def _site_packages(venv: Path) -> list[Path]:
    return sorted((venv / "lib").glob("python*/site-packages"))


def _installed_version(venv: Path, dist: str) -> str | None:
    """Read from dist-info directory names: nothing from the venv is executed."""
    wanted = re.sub(r"[-_.]+", "_", dist).lower()
    for site in _site_packages(venv):
        for info in site.glob("*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
            if re.sub(r"[-_.]+", "_", name).lower() == wanted:
                return version
    return None


def _check_generation(spec: EvalRunSpec, verifiers: str | None) -> None:
    if verifiers is None:
        raise VenvPrepareError("not_a_verifiers_env",
                               f"{spec.dist_name} does not depend on verifiers")
    major_minor = tuple(int(p) for p in re.findall(r"\d+", verifiers)[:2])
    is_v1 = major_minor >= (0, 4)
    if is_v1 != (spec.runtime == "v1"):
        raise VenvPrepareError(
            "runtime_mismatch", f"{spec.dist_name} installs verifiers {verifiers}, which is "
            f"not the {spec.runtime} generation the version was registered as")


def v1_harness_requirements(venv: Path) -> list[str]:
    """The PEP 723 dependencies of verifiers 0.4's chat program (what its subprocess
    runtime `uv sync`s at run time), read from the installed source.

    That file is untrusted (any wheel of the graph may overwrite it) and its strings end
    up on pip's command line: only plain `name[extras] <specifiers> ; <marker>`
    requirements are kept (no URLs, no files, nothing that pip would read as an
    option)."""
    deps: list[str] = []
    for site in _site_packages(venv):
        launch = site / "verifiers" / "v1" / "harnesses" / "utils" / "launch.py"
        if launch.is_file() and not launch.is_symlink():
            for match in _PEP723_DEPS.finditer(launch.read_text(encoding="utf-8",
                                                                errors="replace")):
                with contextlib.suppress(ValueError):
                    found = json.loads(match.group(1))
                    plain = (_plain(d) for d in found if isinstance(d, str))
                    deps += [d for d in plain if d]
    return sorted(set(deps)) or list(V1_HARNESS_DEPS_FALLBACK)


def _plain(text: str) -> str:
    """`text` normalized if it is a plain index requirement, else ""."""
    if "{" in text or text.lstrip().startswith("-") or len(text) > 200:
        return ""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return ""
    return "" if req.url else str(req)
