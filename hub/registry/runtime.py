"""Which verifiers API a package targets, read from its `Requires-Dist`.

verifiers 0.1.x is the "v0" API, the 0.2 line and later the "v1" API. A requirement
decides only when *every* version it allows falls on one side of that line; pre-releases
of 0.2 (0.2.0rc1, 0.2.dev3) count as the 0.2 line. Anything else is "unknown" and the
owner may set the runtime by hand.

The prime client (0.18.0, `prime_cli/utils/environment_runtime.py`) is looser: it looks
only at the highest lower bound, so a bare `verifiers` or `verifiers<0.5` is v0 there.
A client's explicit `runtime_hint` wins over this inference anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

Runtime = Literal["v0", "v1", "unknown"]

V1_LINE = Version("0.2")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def _base(v: Version) -> Version:
    """Epoch and release only: 0.2.0rc1 and 0.2.post1 both belong to the 0.2 line."""
    return Version(v.base_version)


def _next_prefix(prefix: Version) -> Version:
    """The first release after every `==prefix.*` version: 0.1 -> 0.2, 1!2 -> 1!3."""
    release = (*prefix.release[:-1], prefix.release[-1] + 1)
    return Version(f"{prefix.epoch}!" + ".".join(map(str, release)))


def _clause(spec: Specifier) -> tuple[bool, bool]:
    """(every allowed version is before 0.2, every allowed version is 0.2 or later)."""
    op, text = spec.operator, spec.version
    try:
        if op == "==" and text.endswith(".*"):
            prefix = Version(text[:-2])
            return _next_prefix(prefix) <= V1_LINE, _base(prefix) >= V1_LINE
        v = Version(text)
    except InvalidVersion:
        return False, False  # e.g. `===foo`: says nothing we can order
    if op in ("==", "==="):
        return _base(v) < V1_LINE, _base(v) >= V1_LINE
    if op in (">=", ">"):
        return False, _base(v) >= V1_LINE
    if op == "~=":  # ~=X.Y.Z means >=X.Y.Z, ==X.Y.*
        prefix = Version(f"{v.epoch}!" + ".".join(map(str, v.release[:-1])))
        return _next_prefix(prefix) <= V1_LINE, _base(v) >= V1_LINE
    if op == "<":
        # `<0.2` excludes 0.2's own pre-releases (PEP 440), `<0.2rc1` does not.
        return (_base(v) < V1_LINE if v.is_prerelease else v <= V1_LINE), False
    if op == "<=":
        return _base(v) < V1_LINE, False
    return False, False  # "!=" only removes points


def _classify(specs: Iterable[Specifier]) -> Runtime:
    below = above = False
    for spec in specs:
        b, a = _clause(spec)
        below, above = below or b, above or a
    if below and above:
        return "unknown"  # contradictory: nothing satisfies it
    return "v0" if below else "v1" if above else "unknown"


def _only_for_extra(req: Requirement) -> bool:
    """True when only an extra pulls the requirement in (`; extra == "dev"`)."""
    if req.marker is None or "extra" not in _QUOTED.sub('""', str(req.marker)):
        return False
    return not req.marker.evaluate({"extra": ""})


def runtime_from_requires(requires_dist: Iterable[str]) -> Runtime:
    """'v0' / 'v1' when the verifiers requirement pins one API line, else 'unknown'."""
    reqs: list[Requirement] = []
    for text in requires_dist:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == "verifiers" and not _only_for_extra(req):
            reqs.append(req)
    if not reqs or any(r.url for r in reqs):
        return "unknown"
    unconditional = [r for r in reqs if r.marker is None]
    if unconditional:
        # Installers apply every unconditional entry, so their clauses intersect.
        return _classify(s for r in unconditional for s in r.specifier)
    verdicts = {_classify(r.specifier) for r in reqs}
    return verdicts.pop() if len(verdicts) == 1 else "unknown"
