"""The deployment's settings: one typed value the stack is built from.

``app.py`` fills it from the CDK context (``cdk.json`` and ``-c key=value``); tests build it
directly. Nothing below ``app.py`` reads the context or the environment.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import aws_logs as logs

__all__ = ["REPO_ROOT", "ClusterSettings", "cleanup_handler_directory", "library_directory"]

#: The repository root: ``cdk/socketio_cloud_cdk/settings.py`` is two levels below it (in a
#: checkout; in an installed package the paths below it do not exist).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where the installed package carries the cleanup handler (see cdk/pyproject.toml).
_PACKAGED_HANDLER = Path(__file__).resolve().parent / "functions" / "aws_cleanup"

# Names and defaults shared with the library; the module needs nothing but the standard
# library, so a checkout without the package installed can use it from adapters/.
try:
    from socketio_cloud.brokers import aws as aws_facts
except ImportError:
    sys.path.insert(0, str(REPO_ROOT / "adapters"))
    from socketio_cloud.brokers import aws as aws_facts


def cleanup_handler_directory() -> Path:
    """The cleanup function's handler: the checkout's ``functions/aws_cleanup``, else the
    copy the installed package carries."""
    checkout = REPO_ROOT / "functions" / "aws_cleanup"
    return checkout if (checkout / "handler.py").is_file() else _PACKAGED_HANDLER


def library_directory() -> Path:
    """The ``socketio_cloud`` package whose cleanup files the function ships: the checkout's
    ``adapters/socketio_cloud``, else the installed one."""
    checkout = REPO_ROOT / "adapters" / "socketio_cloud"
    if (checkout / "__init__.py").is_file():
        return checkout
    spec = importlib.util.find_spec("socketio_cloud")
    if spec is None or not spec.submodule_search_locations:
        return checkout  # CleanupFunction names what is missing
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class ClusterSettings:
    """Everything that differs between deployments of the cluster.

    Durations are seconds, as in the library. The defaults give a small two-task cluster in
    a new VPC of public subnets (no NAT gateways), with the app image built from
    ``app/Dockerfile``.
    """

    #: Prefix of the per-node SQS queues (``<prefix>-<uid>``); IAM is scoped to it.
    queue_prefix: str = aws_facts.DEFAULT_QUEUE_PREFIX
    #: Seconds between heartbeats / before a silent node is dropped (Node: 5000 / 10000 ms).
    heartbeat_interval: float = 5.0
    heartbeat_timeout: float = 10.0

    #: Tasks started on deploy, and the autoscaling range and CPU target.
    desired_count: int = 2
    min_capacity: int = 2
    max_capacity: int = 6
    cpu_target_percent: int = 60
    #: Fargate task size (CPU units, MiB); 256/512 is the smallest Fargate size.
    cpu: int = 256
    memory_mib: int = 512

    #: A registry image (``repo/name:tag``) to run instead of building the app image.
    image: str | None = None
    #: The app's own environment variables, next to the cluster's ``SIO_*`` ones.
    environment: dict[str, str] = field(default_factory=dict)
    #: The Docker build context of the app image when ``image`` is not set: the repository
    #: root, since the image installs the library (``adapters/``) as well as ``app/``.
    image_context: Path = REPO_ROOT
    #: The Dockerfile, relative to ``image_context``.
    dockerfile: str = "app/Dockerfile"

    #: Deploy into this existing VPC (needs an explicit account and region) instead of
    #: creating one.
    vpc_id: str | None = None
    #: Number of availability zones of a new VPC.
    max_azs: int = 2

    #: An ACM certificate ARN: adds an HTTPS listener on 443 and redirects 80 to it.
    certificate_arn: str | None = None
    #: Create an S3 bucket for payloads over the SNS limit (objects expire after a day).
    large_payload_bucket: bool = False
    #: Encrypt the topic with a key of this stack (rotated) instead of ``alias/aws/sns``.
    customer_managed_key: bool = False

    #: How often the cleanup function runs, and when it considers a queue abandoned.
    cleanup_period: int = 900
    stale_after: int = int(aws_facts.DEFAULT_STALE_AFTER)
    grace_period: int = int(aws_facts.DEFAULT_GRACE_PERIOD)
    cleanup_dry_run: bool = False
    #: The cleanup handler's directory and the library package it ships with.
    cleanup_handler_directory: Path = field(default_factory=cleanup_handler_directory)
    library_package_directory: Path = field(default_factory=library_directory)

    #: How long the service's and the cleanup function's logs are kept.
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH

    #: Tags put on every resource of the stack that supports tags.
    tags: dict[str, str] = field(default_factory=lambda: {"project": "socketio-cloud"})
