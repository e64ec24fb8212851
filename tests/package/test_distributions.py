"""What the built wheel and sdist carry: the library and its documents, nothing else."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.services import require_service

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_FILES = sorted(
    path.relative_to(REPO_ROOT / "adapters").as_posix()
    for path in (REPO_ROOT / "adapters" / "socketio_cloud").rglob("*")
    if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed")
)
DOCUMENTS = {"README.md", "LICENSE", "CHANGELOG.md", "PROTOCOL.md", "pyproject.toml"}
# written by setuptools into every sdist: the metadata, the egg-info and setup.cfg's tags
SDIST_METADATA = {"PKG-INFO", "setup.cfg"}


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it, as ``python -m build`` makes them."""
    try:
        import build  # noqa: F401
    except ImportError:
        require_service(False, "the 'build' package is not installed (pip install build)")
    outdir = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"python -m build failed:\n{result.stdout}\n{result.stderr}"
    (sdist,) = outdir.glob("*.tar.gz")
    (wheel,) = outdir.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def sdist_files(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        names = {member.name for member in archive.getmembers() if member.isfile()}
    # every member sits under <name>-<version>/
    return {name.split("/", 1)[1] for name in names}


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def test_the_wheel_holds_the_library_and_its_type_marker_only(
    distributions: dict[str, Path],
) -> None:
    files = wheel_files(distributions["wheel"])
    package = {name for name in files if ".dist-info/" not in name}

    assert package == set(SOURCE_FILES)
    assert "socketio_cloud/py.typed" in package


def test_the_wheel_metadata_carries_the_license(distributions: dict[str, Path]) -> None:
    files = wheel_files(distributions["wheel"])

    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in files)


def test_the_sdist_holds_the_library_and_its_documents_only(
    distributions: dict[str, Path],
) -> None:
    files = sdist_files(distributions["sdist"])
    library = {name.removeprefix("adapters/") for name in files if name.startswith("adapters/")}
    egg_info = {name for name in library if ".egg-info/" in name}
    others = files - {name for name in files if name.startswith("adapters/")}

    assert library - egg_info == set(SOURCE_FILES)
    assert others == DOCUMENTS | SDIST_METADATA


def test_the_metadata_names_python_versions_and_the_license(
    distributions: dict[str, Path],
) -> None:
    with zipfile.ZipFile(distributions["wheel"]) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()

    assert "License-Expression: MIT" in metadata
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Classifier: Framework :: AsyncIO" in metadata
