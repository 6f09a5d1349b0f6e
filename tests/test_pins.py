"""requirements.txt, requirements-lock.txt, environment.yml and the installed packages agree."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LAST_KERAS_WITH_ADVISORY_FIX = Version("3.15.0")  # see README / notebook 05


def requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def normalise(line: str) -> str:
    """One canonical spelling: lower-case name with dashes, exact pin, normalised marker."""
    requirement = Requirement(line)
    name = re.sub(r"[-_.]+", "-", requirement.name).lower()
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{name}{requirement.specifier}{marker}"


def pins(lines: list[str]) -> dict[str, Requirement]:
    return {normalise(line): Requirement(line) for line in lines}


DIRECT = pins(requirement_lines(ROOT / "requirements.txt"))
LOCK = pins(requirement_lines(ROOT / "requirements-lock.txt"))


def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_every_direct_requirement_is_an_exact_pin():
    for line, requirement in DIRECT.items():
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"not pinned: {line}"


def test_environment_yml_carries_the_same_pins():
    environment = environment_yml()
    assert environment["channels"] == ["conda-forge"]
    conda = [item for item in environment["dependencies"] if isinstance(item, str)]
    assert "python=3.11" in conda and "pip" in conda
    pip_sections = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    from_yml = {normalise(line) for line in pip_sections[0]}
    assert from_yml == set(DIRECT), (
        f"only in environment.yml: {sorted(from_yml - set(DIRECT))}; "
        f"only in requirements.txt: {sorted(set(DIRECT) - from_yml)}"
    )


def test_lock_agrees_with_direct_pins():
    for line in DIRECT:
        assert line in LOCK, f"{line} is not in requirements-lock.txt with the same version"


def test_lock_pins_each_package_once_per_platform():
    seen: dict[tuple[str, str], str] = {}
    for line, requirement in LOCK.items():
        key = (requirement.name.lower().replace("_", "-"), str(requirement.marker))
        assert key not in seen, f"{line} duplicates {seen[key]}"
        seen[key] = line


def test_tensorflow_wheel_choice_covers_every_platform_once():
    tensorflow = [r for r in DIRECT.values() if r.name in ("tensorflow", "tensorflow-cpu")]
    platforms = [
        {"sys_platform": "linux", "platform_machine": "x86_64"},
        {"sys_platform": "linux", "platform_machine": "aarch64"},
        {"sys_platform": "darwin", "platform_machine": "arm64"},
        {"sys_platform": "win32", "platform_machine": "AMD64"},
    ]
    for environment in platforms:
        chosen = [r.name for r in tensorflow if Marker(str(r.marker)).evaluate(environment)]
        assert len(chosen) == 1, f"{environment}: TensorFlow wheels chosen: {chosen}"
    assert {str(r.specifier) for r in tensorflow} == {"==2.21.0"}


@pytest.mark.parametrize("line", sorted(DIRECT), ids=lambda line: line.split(";")[0])
def test_installed_versions_match_the_pins(line: str):
    requirement = DIRECT[line]
    if requirement.marker and not requirement.marker.evaluate():
        pytest.skip(f"not for this platform: {requirement.marker}")
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        pytest.fail(f"{requirement.name} is pinned but not installed: run tools/kit.py setup")
    assert requirement.specifier.contains(installed), f"{requirement.name} {installed} != {line}"


def test_keras_pin_is_not_older_than_the_last_advisory_fix():
    (keras,) = [r for r in DIRECT.values() if r.name == "keras"]
    (pin,) = keras.specifier
    assert Version(pin.version) >= LAST_KERAS_WITH_ADVISORY_FIX
