"""The cluster's SNS topic: every node publishes to it and subscribes its own queue."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

__all__ = ["ClusterTopic"]

#: The AWS managed key of SNS. Delivery to SSE-SQS queues works with it, and publishers need
#: no KMS permission, which keeps the task role small.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


class ClusterTopic(Construct):
    """An encrypted SNS topic carrying the cluster's messages.

    ``encryption_key`` None encrypts with the AWS managed key ``alias/aws/sns``; with a
    customer managed key, whoever publishes needs ``kms:GenerateDataKey*`` and
    ``kms:Decrypt`` on it (:attr:`customer_key` says which key to grant). The topic's ARN and
    name are stack outputs, since the app and emitters are configured with them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.customer_key = encryption_key
        master_key = encryption_key or kms.Alias.from_alias_name(
            self, "AwsManagedKey", AWS_MANAGED_SNS_KEY
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="socketio-cloud cluster",
            master_key=master_key,
            # A topic policy denies publishing over plain HTTP (cdk-nag AwsSolutions-SNS3).
            enforce_ssl=True,
        )
        Tags.of(self.topic).add("socketio-cloud:role", "cluster-topic")
        for key, value in (tags or {}).items():
            Tags.of(self.topic).add(key, value)

        # Exported, so that other stacks (emitters, Lambda publishers) can import the topic.
        export_prefix = f"{Stack.of(self).stack_name}-{construct_id}"
        CfnOutput(
            self,
            "TopicArn",
            value=self.topic.topic_arn,
            description="The cluster topic's ARN (the app's SIO_TOPIC_ARN)",
            export_name=f"{export_prefix}Arn",
        )
        CfnOutput(
            self,
            "TopicName",
            value=self.topic.topic_name,
            description="The cluster topic's name (the app's SIO_TOPIC_NAME)",
            export_name=f"{export_prefix}Name",
        )
