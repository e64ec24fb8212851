"""The cleanup functions' code as one archive: the function's folder plus the library.

A plain archive of files instead of a build step, as the CDK app stages its Lambda code: the
function folder (``functions/<cloud>_cleanup``, with its ``requirements.txt``) at the root and
the ``socketio_cloud`` package beside it, so the handler imports the cleanup from the very
library version that is being deployed.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from .settings import SettingsError

__all__ = ["function_archive", "source_files"]

_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".venv"}


def source_files(directory: Path) -> list[Path]:
    """The files below ``directory`` that go into the archive, in a stable order."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not _SKIPPED_PARTS.intersection(path.relative_to(directory).parts)
        and path.suffix != ".pyc"
    )


def function_archive(source: Path, library_package: Path) -> pulumi.AssetArchive:
    """The archive of ``source`` with ``library_package`` as its ``socketio_cloud/`` folder.

    Raises :class:`SettingsError` when either folder is missing, so ``pulumi up`` stops with
    one line instead of deploying a function that cannot start.
    """
    if not source.is_dir() or not any(source.glob("*.py")):
        raise SettingsError(f"cleanup function folder {source} is missing or has no .py file")
    if not (library_package / "__init__.py").is_file():
        raise SettingsError(f"library package {library_package} has no __init__.py")
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        path.relative_to(source).as_posix(): pulumi.FileAsset(str(path))
        for path in source_files(source)
    }
    for path in source_files(library_package):
        name = "socketio_cloud/" + path.relative_to(library_package).as_posix()
        assets[name] = pulumi.FileAsset(str(path))
    return pulumi.AssetArchive(assets)
