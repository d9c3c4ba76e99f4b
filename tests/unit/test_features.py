"""Extras and supported ranges (tickcast.features) agree with pyproject.toml and the lock."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tickcast import features
from tickcast.features import MissingExtra, UnsupportedDependency, check_supported, require

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements() -> list[str]:
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    return [*project["dependencies"], *(r for group in extras.values() for r in group)]


def name_of(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match is not None
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def pins(lock: str) -> dict[str, str]:
    """name -> pinned version; a name pinned twice (per-Python markers) keeps every version."""
    text = (ROOT / "requirements" / lock).read_text()
    found: dict[str, str] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\\n]+)", text, re.M):
        key = name_of(name)
        found[key] = f"{found[key]}|{version}" if key in found else version
    return found


def test_supported_ranges_are_the_pyproject_ranges() -> None:
    for distribution, (lowest, below) in features.SUPPORTED.items():
        declared = [r for r in requirements() if name_of(r) == distribution]
        assert declared, f"{distribution} is not in pyproject.toml"
        assert all(f">={lowest},<{below}" in r for r in declared), (distribution, declared)


def test_a_release_outside_the_range_is_refused_naming_the_range() -> None:
    def installed(versions: dict[str, str]) -> Callable[[str], str | None]:
        return versions.get

    for bad in ("0.56.0", "0.56.0rc1", "1.0", "0.52.4"):
        with pytest.raises(UnsupportedDependency) as refused:
            check_supported(installed({"uvicorn": bad}))
        assert f"uvicorn {bad} is installed" in refused.value.message
        assert "uvicorn>=0.53,<0.56" in refused.value.message
    with pytest.raises(UnsupportedDependency, match="websockets 18.0"):
        check_supported(installed({"websockets": "18.0"}))
    check_supported(installed({"uvicorn": "0.53.0", "websockets": "17.99"}))
    check_supported(installed({}))


def test_the_installed_libraries_are_supported() -> None:
    check_supported()


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(features.EXTRAS, "ghost", ("json", "tickcast_no_such_module"))
    with pytest.raises(MissingExtra) as missing:
        require("ghost", "the ghost feature")
    assert missing.value.message == (
        "the ghost feature needs tickcast's 'ghost' extra (missing: tickcast_no_such_module); "
        "install it with: pip install 'tickcast[ghost]'"
    )
    require("server", "tickcast serve")  # the test environment has every extra


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    dev, serve = pins("dev.txt"), pins("serve.txt")
    for requirement in requirements():
        name = name_of(requirement)
        if name != "tickcast":
            assert name in dev, f"{name} is not in requirements/dev.txt: run scripts/lock"
    assert {n: v for n, v in dev.items() if n in serve} == serve, "serve.txt differs from dev.txt"
    for lock in ("dev.txt", "serve.txt", "build.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip())
        assert entries and all("--hash=sha256:" in e for e in entries if "==" in e), lock


def test_the_client_extra_is_the_sdk_alone() -> None:
    project = PYPROJECT["project"]
    assert [name_of(r) for r in project["dependencies"]] == ["websockets"]
    assert project["optional-dependencies"]["client"] == []
