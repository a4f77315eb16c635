"""The lower bounds in pyproject.toml are the versions `.ci/min-versions` tests.

`.ci/min-constraints.txt` pins every direct dependency at the lowest release the
pyproject bound admits (the first with wheels for CPython 3.11); a bound raised
or added without the constraints file, or the other way round, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; 3.10 skips

ROOT = Path(__file__).resolve().parents[1]


def _bounds() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    out = {}
    for text in reqs:
        req = Requirement(text)
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{text}: give one lower bound (>=)"
        out[req.name.lower()] = lows[0]
    return out


def _pins() -> dict[str, Version]:
    out = {}
    for line in (ROOT / ".ci" / "min-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
            out[name.lower()] = Version(version)
    return out


def test_every_lower_bound_is_pinned_at_that_release():
    bounds, pins = _bounds(), _pins()
    assert sorted(bounds) == sorted(pins)
    for name, low in bounds.items():
        pin = pins[name]
        assert pin >= low, f"{name}: pinned {pin} is below the bound {low}"
        assert pin.release[:len(low.release)] == low.release, (
            f"{name}: the tested version {pin} is not the bound {low}; raise the bound or "
            "the pin")


def test_min_versions_script_uses_the_constraints():
    script = (ROOT / ".ci" / "min-versions").read_text()
    assert "-c .ci/min-constraints.txt" in script and "pytest" in script
