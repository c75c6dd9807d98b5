"""runtime_from_requires: which verifiers API line a Requires-Dist pins."""

from __future__ import annotations

import pytest

from hub.registry.archive import runtime_from_requires


@pytest.mark.parametrize(
    ("requirement", "runtime"),
    [
        ("verifiers>=0.1.2,<0.2", "v0"),
        ("verifiers==0.1.3", "v0"),
        ("verifiers>=0.4", "v1"),
        ("verifiers", "unknown"),  # allows both lines
        ("verifiers[rl]>=0.4", "v1"),  # extras of verifiers itself do not matter
        ("Verifiers>=0.4", "v1"),  # names compare normalized
        ("verifiers==0.1.*", "v0"),
        ("verifiers==0.2.*", "v1"),
        ("verifiers==0.*", "unknown"),
        ("verifiers~=0.1.3", "v0"),  # >=0.1.3, ==0.1.*
        ("verifiers~=0.1", "unknown"),  # >=0.1, ==0.*
        ("verifiers<0.2", "v0"),  # PEP 440: excludes 0.2's pre-releases
        ("verifiers<0.1.99", "v0"),
        ("verifiers<=0.2", "unknown"),
        ("verifiers<0.2rc1", "unknown"),  # allows 0.2.dev1
        ("verifiers>=0.2.0rc1", "v1"),  # 0.2 pre-releases are the 0.2 line
        ("verifiers>0.1.9", "unknown"),  # allows 0.1.10
        ("verifiers!=0.1.5", "unknown"),
        ("verifiers===0.1.3", "v0"),
        ("verifiers===foo", "unknown"),
        ("verifiers>=0.4,<0.1", "unknown"),  # unsatisfiable
        ("verifiers @ https://example.com/verifiers-0.4.0-py3-none-any.whl", "unknown"),
        ('verifiers>=0.4; python_version >= "3.11"', "v1"),
        ('verifiers>=0.4; extra == "dev"', "unknown"),  # only an extra pulls it in
        ('verifiers>=0.4; extra == "dev" or python_version >= "3"', "v1"),
        ("numpy>=1", "unknown"),
        ("this is not a requirement", "unknown"),
    ],
)
def test_single_requirement(requirement: str, runtime: str) -> None:
    assert runtime_from_requires([requirement]) == runtime


def test_several_entries() -> None:
    assert runtime_from_requires([]) == "unknown"
    # Unconditional entries intersect.
    assert runtime_from_requires(["verifiers>=0.1", "verifiers<0.2"]) == "v0"
    # An extra-only entry does not change the verdict of the unconditional one.
    assert runtime_from_requires(["verifiers>=0.4", 'verifiers<0.2; extra == "old"']) == "v1"
    # Platform-conditional entries decide only when they agree.
    agree = ['verifiers>=0.4; sys_platform == "linux"', 'verifiers>=0.5; sys_platform == "darwin"']
    differ = ['verifiers>=0.4; python_version < "3.12"', 'verifiers<0.2; python_version >= "3.12"']
    assert runtime_from_requires(agree) == "v1"
    assert runtime_from_requires(differ) == "unknown"
