"""The images fraud-api's tasks run, each from a private ECR repository the task can reach.

- fraud-api itself: built from fraud_api/Dockerfile and pushed to the stack's repository by default
  (`apiImage` empty), tagged by content and referenced by digest; or a prebuilt image from this
  region's private ECR, by digest (`apiImage`, e.g. what .github/workflows/image.yml pushed).
- Public images (the OpenTelemetry collector): through an ECR pull-through cache rule for ECR Public. prod's
  tasks have no route to the internet, only the ECR interface endpoints and the S3 gateway
  endpoint (image layers), so public.ecr.aws itself is out of reach; ECR fetches upstream for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.config import ECR_IMAGE_RE
from components.config_values import ConfigError
from components.context import AwsContext
from components.lambda_package import ROOT
from components.naming import Kind, Namer

# What the build context holds (fraud_api/Dockerfile copies these), and what it never does.
IMAGE_SOURCES = ("fraud_api", "fraud_common", "fraud_scoring")
_CONTEXT_EXCLUDED_PARTS = ("__pycache__", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache")
DOCKERFILE = ROOT / "fraud_api" / "Dockerfile"
# Fargate runs the task as X86_64 (api_service.py's runtime_platform).
PLATFORM = docker_build.Platform.LINUX_AMD64

PUBLIC_REGISTRY = "public.ecr.aws"
ADOT_COLLECTOR = ("aws-observability/aws-otel-collector", "v0.45.1")
"""The AWS Distro for OpenTelemetry collector, public.ecr.aws/aws-observability/aws-otel-collector."""


def dockerignore_text(sources: tuple[str, ...] = IMAGE_SOURCES) -> str:
    """A .dockerignore whose context is exactly `sources` minus caches and tests (the repository's: IMAGE_SOURCES).

    The content tag hashes the same files, so the context changes exactly when the tag does: an
    immutable repository would refuse a second, different build pushed under an existing tag.
    """
    lines = ["# Generated from components/image.py (dockerignore_text); a test keeps them equal.", "*"]
    lines += [f"!{source}/" for source in sources]
    lines += [f"**/{part}" for part in _CONTEXT_EXCLUDED_PARTS]
    lines += ["**/*.pyc"]
    return "\n".join(lines) + "\n"


def context_files(sources: tuple[str, ...] = IMAGE_SOURCES) -> list[str]:
    """Repository-relative files of the build context, sorted."""
    files = []
    for source in sources:
        for path in (ROOT / source).rglob("*"):
            relative = path.relative_to(ROOT)
            if path.is_file() and path.suffix != ".pyc" and not set(_CONTEXT_EXCLUDED_PARTS) & set(relative.parts):
                files.append(relative.as_posix())
    return sorted(files)


def image_tag(root: Path = ROOT, sources: tuple[str, ...] = IMAGE_SOURCES) -> str:
    """Content hash of the build context (Dockerfile and requirements included): immutable tags change
    exactly when the image's inputs do. .github/workflows/image.yml computes the same value."""
    digest = hashlib.sha256()
    for name in context_files(sources):
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ImageSource:
    """An image reference and the ECR repository the task's execution role pulls it from."""

    ref: pulumi.Output[str]
    repository_arn: pulumi.Input[str]
    pull_through_cache: bool = False
    """ECR fetches the image from upstream on first pull, on behalf of the puller
    (ecr:BatchImportUpstreamImage)."""


def encrypted_repository(
    resource_name: str, name: str, kms_key_arn: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> aws.ecr.Repository:
    """Scanned, immutable, KMS-encrypted, destroyable (force_delete empties it)."""
    return aws.ecr.Repository(
        resource_name,
        name=name,
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=kms_key_arn)
        ],
        force_delete=True,
        opts=opts,
    )  # fmt: skip


def build_fraud_api_image(
    resource_name: str, *, namer: Namer, kms_key_arn: pulumi.Input[str], parent: pulumi.Resource
) -> ImageSource:
    """Build fraud_api/Dockerfile with buildx and push it to the stack's repository (needs a Docker daemon)."""
    opts = pulumi.ResourceOptions(parent=parent)
    repository = encrypted_repository(
        f"{resource_name}-repository", namer.name(Kind.ECR_REPOSITORY, "fraud-api"), kms_key_arn, opts
    )
    token = aws.ecr.get_authorization_token_output(
        registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    image = docker_build.Image(
        f"{resource_name}-image",
        context=docker_build.BuildContextArgs(location=str(ROOT)),
        dockerfile=docker_build.DockerfileArgs(location=str(DOCKERFILE)),
        platforms=[PLATFORM],
        tags=[pulumi.Output.concat(repository.repository_url, ":", image_tag())],
        push=True,
        registries=[
            docker_build.RegistryArgs(
                address=repository.repository_url, username=token.user_name, password=token.password
            )
        ],
        # A preview needs no Docker daemon (the policy-pack preview in CI has none to spare); the
        # build runs in `pulumi up`, and image.yml builds the same context on every change.
        build_on_preview=False,
        opts=opts,
    )
    # `ref` is <repository>:<tag>@sha256:<digest>: the task runs exactly the image that was pushed.
    return ImageSource(ref=image.ref, repository_arn=repository.arn)


def prebuilt_image(ref: str, ctx: AwsContext) -> ImageSource:
    """A digest reference from this account's and region's private ECR (config.py checked its shape)."""
    match = ECR_IMAGE_RE.match(ref)
    if match is None or match["account"] != ctx.account_id or match["region"] != ctx.region:
        raise ConfigError(
            [f"fraud-detection:apiImage = {ref!r} is invalid: allowed an image in this account's private ECR "
             f"({ctx.account_id}.dkr.ecr.{ctx.region}.amazonaws.com/...), by digest"]
        )  # fmt: skip
    return ImageSource(
        ref=pulumi.Output.from_input(ref), repository_arn=ctx.arn("ecr", f"repository/{match['repository']}")
    )


class PublicImageCache:
    """An ECR pull-through cache rule for ECR Public under the stack's own prefix.

    The cache repositories are created here rather than by ECR on first pull, so they are
    encrypted with the stack's key, scanned, and destroyed with the stack; the execution role then
    needs no ecr:CreateRepository ("required if the repository storing the cached images doesn't
    already exist": AWS ECR User Guide, pull-through-cache-iam.html).
    """

    def __init__(
        self, resource_name: str, *, namer: Namer, kms_key_arn: pulumi.Input[str], parent: pulumi.Resource
    ) -> None:
        self._resource_name = resource_name
        self._kms_key_arn = kms_key_arn
        self._opts = pulumi.ResourceOptions(parent=parent)
        # ecr-public-<suffix>: at most 23 characters (ECR allows 2-30), one prefix per stack.
        self.prefix = namer.name(Kind.ECR_REPOSITORY, "public")
        self.rule = aws.ecr.PullThroughCacheRule(
            f"{resource_name}-rule",
            ecr_repository_prefix=self.prefix,
            upstream_registry_url=PUBLIC_REGISTRY,
            opts=self._opts,
        )

    def image(self, key: str, repository: str, tag: str) -> ImageSource:
        """public.ecr.aws/<repository>:<tag> as <account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>:<tag>"""
        cache = encrypted_repository(
            f"{self._resource_name}-{key}", f"{self.prefix}/{repository}", self._kms_key_arn, self._opts
        )
        # Through the rule's prefix too, so the task definition waits for the rule as well.
        ref = pulumi.Output.all(cache.repository_url, self.rule.ecr_repository_prefix).apply(
            lambda values: f"{values[0]}:{tag}"
        )
        return ImageSource(ref=ref, repository_arn=cache.arn, pull_through_cache=True)
