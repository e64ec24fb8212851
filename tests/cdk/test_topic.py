"""ClusterTopic: the encrypted SNS topic every node publishes to."""

from __future__ import annotations

import pytest

from tests.cdk import STACK_NAME, Synthesis

pytestmark = pytest.mark.cdk

ALIAS_AWS_SNS = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":kms:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":alias/aws/sns",
        ],
    ]
}


def test_topic_is_encrypted_with_the_aws_managed_sns_key(default_synthesis: Synthesis) -> None:
    topic = default_synthesis.properties(default_synthesis.stack.topic.topic)
    assert topic["KmsMasterKeyId"] == ALIAS_AWS_SNS
    default_synthesis.assertions.resource_count_is("AWS::KMS::Key", 0)


def test_topic_name_is_left_to_cloudformation(default_synthesis: Synthesis) -> None:
    assert "TopicName" not in default_synthesis.properties(default_synthesis.stack.topic.topic)


def test_topic_is_tagged(default_synthesis: Synthesis) -> None:
    topic = default_synthesis.properties(default_synthesis.stack.topic.topic)
    tags = {tag["Key"]: tag["Value"] for tag in topic["Tags"]}
    assert tags == {"project": "socketio-cloud", "socketio-cloud:role": "cluster-topic"}


def test_topic_refuses_publishing_without_tls(default_synthesis: Synthesis) -> None:
    topic_ref = default_synthesis.ref(default_synthesis.stack.topic.topic)
    default_synthesis.assertions.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [topic_ref],
            "PolicyDocument": {
                "Statement": [
                    {
                        "Action": "sns:Publish",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Resource": topic_ref,
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        "Sid": "AllowPublishThroughSSLOnly",
                    }
                ],
                "Version": "2012-10-17",
            },
        },
    )


def test_topic_arn_and_name_are_exported_outputs(default_synthesis: Synthesis) -> None:
    topic_id = default_synthesis.logical_id(default_synthesis.stack.topic.topic)
    outputs = {
        output["Export"]["Name"]: output["Value"]
        for output in default_synthesis.template["Outputs"].values()
        if "Export" in output
    }
    assert outputs[f"{STACK_NAME}-ClusterTopicArn"] == {"Ref": topic_id}
    assert outputs[f"{STACK_NAME}-ClusterTopicName"] == {"Fn::GetAtt": [topic_id, "TopicName"]}


def test_customer_managed_key_encrypts_the_topic_and_rotates(full_synthesis: Synthesis) -> None:
    key = full_synthesis.stack.topic.customer_key
    assert key is not None
    assert full_synthesis.properties(key)["EnableKeyRotation"] is True
    topic = full_synthesis.properties(full_synthesis.stack.topic.topic)
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [full_synthesis.logical_id(key), "Arn"]}
