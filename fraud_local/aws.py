"""The AWS side of local mode: moto's environment, the resources, and each function's variables.

Resources are created from the definitions the Pulumi data plane and pipeline use: the table from
``fraud_common.tables.boto3_create_table_args`` (keys, the three indexes, the stream), the API
configuration secret seeded by ``fraud_common.api_config.initial_configuration``, names from
``components.naming.Namer``, and the handlers' variables from ``fraud_common.env``. moto keeps its
state in memory, so they are created afresh by every start (see ``stack.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from fraud_common import env
from fraud_common.api_config import initial_configuration
from fraud_common.tables import boto3_create_table_args
from fraud_local.config import MODEL_REFRESH_S, MOTO_ACCOUNT_ID, REGION, LocalNames, LocalSecrets

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=30)


def aws_environment(endpoint: str) -> dict[str, str]:
    """Variables that point every AWS SDK in a process at moto, with fake credentials.

    ``AWS_ENDPOINT_URL`` is honoured by boto3 itself (>= 1.28), so the handlers' own clients
    (``functions.common.aws``) reach moto without any change to their code. The account-id
    endpoint mode must be off: botocore would otherwise send DynamoDB Streams calls to an
    account-specific host name that moto does not answer.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        # No shared config or credentials of the user's own AWS setup may leak in.
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass(frozen=True)
class Resources:
    """Identifiers of the resources created in moto (also written to ``run.json``)."""

    table_name: str
    stream_arn: str
    reports_bucket: str
    api_config_secret_arn: str
    failure_queue_url: str
    failure_queue_arn: str
    data_key_arn: str
    analyzer_function_arn: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})


@cache
def _session() -> boto3.session.Session:
    # One session: it caches the parsed service models, the slow part of making a client.
    return boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="local", region_name=REGION
    )


def client(service: str, endpoint: str) -> Any:
    """A boto3 client for moto at ``endpoint`` that ignores the caller's own AWS configuration."""
    return _session().client(
        service,
        endpoint_url=endpoint,
        config=_CLIENT_CONFIG.merge(Config(account_id_endpoint_mode="disabled")),
    )


def provision(endpoint: str, names: LocalNames, keys: LocalSecrets) -> Resources:
    """Create the data key, table, reports bucket, API configuration secret and failure queue."""
    kms = client("kms", endpoint)
    key_arn = kms.create_key(Description="fraud-detection local data key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=names.data_key_alias, TargetKeyId=key_arn)

    dynamodb = client("dynamodb", endpoint)
    table_args = boto3_create_table_args(names.table)
    # As deployed: encrypted with the customer-managed data key.
    table_args["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    table = dynamodb.create_table(**table_args)["TableDescription"]

    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket=names.reports_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_public_access_block(
        Bucket=names.reports_bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=names.reports_bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )

    secret_arn = client("secretsmanager", endpoint).create_secret(
        Name=names.api_config_secret,
        Description="fraud-api and pipeline configuration (local mode)",
        KmsKeyId=key_arn,
        SecretString=initial_configuration(keys.signing_key, keys.pan_hash_key),
    )["ARN"]

    sqs = client("sqs", endpoint)
    queue_url = sqs.create_queue(
        QueueName=names.failure_queue,
        Attributes={"KmsMasterKeyId": key_arn, "MessageRetentionPeriod": str(14 * 24 * 3600)},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    return Resources(
        table_name=names.table,
        stream_arn=table["LatestStreamArn"],
        reports_bucket=names.reports_bucket,
        api_config_secret_arn=secret_arn,
        failure_queue_url=queue_url,
        failure_queue_arn=queue_arn,
        data_key_arn=key_arn,
        analyzer_function_arn=f"arn:aws:lambda:{REGION}:{MOTO_ACCOUNT_ID}:function:{names.function('analyzer')}",
    )


def function_environment(
    function: str, resources: Resources, *, model_path: str | None = None, registry_dir: str | None = None
) -> dict[str, str]:
    """The variables ``function`` gets in AWS, with local values (as ``FraudPipeline`` sets them).

    Exactly ``env.FUNCTION_ENV[function]`` plus ``env.FIXED_ENV``, like the component; plus, for
    local mode only, tracing off (there is no X-Ray daemon), an optional model artifact, and the
    model registry as a directory in place of the bucket and the SSM pointer.
    """
    variables = env.function_environment(
        function,
        table_name=resources.table_name,
        api_config_secret_arn=resources.api_config_secret_arn,
        reports_bucket=resources.reports_bucket,
        reports_kms_key_arn=resources.data_key_arn,
        models_bucket="",
        model_pointer_parameter="",
        model_shadow_parameter="",
    )
    for name in (env.MODEL_BUCKET, env.MODEL_POINTER_PARAMETER, env.MODEL_SHADOW_PARAMETER):
        variables.pop(name, None)
    if registry_dir:
        variables[env.MODEL_REGISTRY_DIR] = registry_dir
        variables[env.MODEL_REFRESH_S] = MODEL_REFRESH_S
    variables["POWERTOOLS_TRACE_DISABLED"] = "true"
    if model_path:
        variables[env.SCORING_MODEL_PATH] = model_path
    return variables


def failure_messages(endpoint: str, queue_url: str) -> list[dict[str, Any]]:
    """The failure queue's messages (received: hidden from other readers for the visibility timeout)."""
    sqs = client("sqs", endpoint)
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [json.loads(message["Body"]) for message in batch]
