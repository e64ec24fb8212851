"""The package's face: public names, a missing extra, the version."""

from __future__ import annotations

import subprocess
import sys

import socketio_cloud
from socketio_cloud import cli


def test_dir_lists_every_public_name() -> None:
    names = dir(socketio_cloud)
    assert set(socketio_cloud.__all__) <= set(names)
    assert "AwsSqsManager" in names and "RedisStreamsEmitter" in names


def test_a_missing_extra_is_named_in_the_error() -> None:
    # a fresh interpreter where importing boto3 fails, as it does without the aws extra
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "try:\n"
        "    from socketio_cloud import AwsSqsManager\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "needs the 'aws' extra" in out and "pip install 'socketio-cloud[aws]'" in out


def test_the_command_line_tells_its_version(capsys: object) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "socketio_cloud.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"socketio-cloud {socketio_cloud.__version__}"
    assert cli.build_parser().prog == "socketio-cloud"
