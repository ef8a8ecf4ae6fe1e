"""The fraud-api image, built from this repository into a private ECR repository (`apiBuildImage`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.lambda_package import ROOT, source_files
from components.naming import Kind, Namer

IMAGE_SOURCES = ("fraud_api", "fraud_common", "fraud_scoring")


def image_tag() -> str:
    """Content hash of what goes into the image: immutable tags change exactly when the code does."""
    digest = hashlib.sha256()
    for name in source_files(IMAGE_SOURCES):
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class BuiltImage:
    uri: pulumi.Output[str]
    repository_arn: pulumi.Output[str]


def build_fraud_api_image(
    resource_name: str, *, namer: Namer, kms_key_arn: pulumi.Input[str], parent: pulumi.Resource
) -> BuiltImage:
    """A scanned, immutable, KMS-encrypted repository and the image built from fraud_api/Dockerfile."""
    opts = pulumi.ResourceOptions(parent=parent)
    repository = aws.ecr.Repository(
        f"{resource_name}-repository",
        name=namer.name(Kind.ECR_REPOSITORY, "fraud-api"),
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "KMS", "kms_key": kms_key_arn}],
        force_delete=True,
        opts=opts,
    )
    image = awsx.ecr.Image(
        f"{resource_name}-image",
        repository_url=repository.repository_url,
        context=str(ROOT),
        dockerfile=str(ROOT / "fraud_api" / "Dockerfile"),
        platform="linux/amd64",
        image_tag=image_tag(),
        opts=opts,
    )
    return BuiltImage(uri=image.image_uri, repository_arn=repository.arn)
