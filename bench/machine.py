"""Facts about the machine and the software a benchmark ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from typing import Any

import psutil

from bench.procs import BENCH

PYTHON_PACKAGES = (
    "socketio-cloud",
    "python-socketio",
    "python-engineio",
    "uvicorn",
    "websockets",
    "aiohttp",
    "uvloop",
    "msgpack",
    "redis",
    "aio-pika",
    "boto3",
    "moto",
    "psutil",
)
NODE_PACKAGES = (
    "socket.io",
    "socket.io-client",
    "socket.io-adapter",
    "@socket.io/redis-streams-adapter",
    "@socket.io/redis-adapter",
    "redis",
)


def _command(*argv: str) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _redis_version() -> str | None:
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
        try:
            return str(client.info("server").get("redis_version"))
        finally:
            client.close()
    except Exception:
        return None


def _rabbitmq_version() -> str | None:
    text = _command("rabbitmqctl", "version")
    return text.splitlines()[-1] if text else None


def _node_package(name: str) -> str | None:
    path = BENCH / "node_modules" / name / "package.json"
    try:
        return str(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def facts() -> dict[str, Any]:
    python_versions: dict[str, str | None] = {}
    for name in PYTHON_PACKAGES:
        try:
            python_versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            python_versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _command("node", "--version"),
        "redis_server": _redis_version(),
        "rabbitmq": _rabbitmq_version(),
        "python_packages": python_versions,
        "node_packages": {name: _node_package(name) for name in NODE_PACKAGES},
    }
