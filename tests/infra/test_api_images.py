"""fraud-api's images (built by default, prebuilt by digest, public ones through a pull-through cache),
the rollout that waits, the ordering of the service and the ALB, the Container Insights log group, the
suffixed autoscaling names and the certificate's lifetime."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from components.config_values import ConfigError
from components.image import context_files, dockerignore_text, image_tag
from tests.support.harness import ACCOUNT_ID, ProgramRun, Recorded, run_program

DIGEST = "sha256:" + "ab" * 32
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _task_images(run: ProgramRun, task_name: str = "fraud-task") -> list[str]:
    task = run.named("aws:ecs/taskDefinition:TaskDefinition", task_name)
    return [container["image"] for container in json.loads(task.inputs["containerDefinitions"])]


def _execution_statements(run: ProgramRun) -> dict[str, dict[str, Any]]:
    policy = run.named("aws:iam/rolePolicy:RolePolicy", "fraud-execution-role-policy").inputs["policy"]
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


def _pullable_by_execution_role(run: ProgramRun, task: Recorded) -> set[str]:
    """The repositories the task's own execution role may pull from (its inline policy)."""
    role_name = task.inputs["executionRoleArn"].rsplit("/", 1)[1]
    [role] = [r for r in run.of_type("aws:iam/role:Role") if r.inputs["name"] == role_name]
    [policy] = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == f"{role.name}-id"]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    return {arn for s in statements if "ecr:BatchGetImage" in s["Action"] for arn in s["Resource"]}


def _repository_arn(region: str, image: str) -> str:
    repository = re.sub(r"(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$", "", image.split("/", 1)[1])
    return f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{repository}"


# --- whole program: every image is reachable on the task's network path -------------------------


def test_every_task_image_is_built_by_the_stack_or_served_by_its_reachable_private_ecr(run: ProgramRun) -> None:
    region = run.config["aws:region"]
    registry = f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/"
    built = {f"{r.inputs['tags'][0]}@{DIGEST}" for r in run.of_type("docker-build:index:Image")}
    [cache_rule] = run.of_type("aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    cache_prefix = registry + cache_rule.inputs["ecrRepositoryPrefix"] + "/"
    tasks = run.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert sorted(t.name for t in tasks) == ["fraud-export-task", "fraud-retrain-task", "fraud-task"]
    images = 0
    for task in tasks:
        pullable = _pullable_by_execution_role(run, task)
        for container in json.loads(task.inputs["containerDefinitions"]):
            image = container["image"]
            images += 1
            # Built here (its digest reference), or from the stack's pull-through cache prefix.
            assert image in built or image.startswith(cache_prefix), image
            assert image.startswith(registry), f"{image} is not in this region's private ECR"
            assert _repository_arn(region, image) in pullable, f"{task.name}'s execution role cannot pull {image}"
    assert images == 4  # fraud-api and its collector; export; retrain
    if run.config["fraud-detection:interfaceEndpoints"] == "true":
        # prod: no route to the internet from the tasks; ECR API, registry and S3 (layers) are endpoints.
        services = {
            e.inputs["serviceName"].rsplit(f"{region}.", 1)[1] for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        }
        assert {"ecr.api", "ecr.dkr", "s3"} <= services


def test_api_image_is_built_and_pushed_to_the_stacks_repository_by_default(run: ProgramRun) -> None:
    repository = run.named("aws:ecr/repository:Repository", "fraud-api-repository").inputs
    assert repository["name"] == f"ecr-fraud-api-{run.suffix}"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    image = run.named("docker-build:index:Image", "fraud-api-image").inputs
    assert image["dockerfile"]["location"].endswith("fraud_api/Dockerfile")
    assert image["platforms"] == ["linux/amd64"] and image["push"] is True
    [tag] = image["tags"]
    url = f"{ACCOUNT_ID}.dkr.ecr.{run.config['aws:region']}.amazonaws.com/ecr-fraud-api-{run.suffix}"
    assert re.fullmatch(re.escape(url) + ":[0-9a-f]{16}", tag), "tagged by content"
    assert tag.endswith(":" + image_tag())
    assert image["registries"][0]["address"] == url and image["registries"][0]["username"] == "AWS"
    api = next(i for i in _task_images(run) if "fraud-api" in i)
    assert api == f"{tag}@{DIGEST}", "the task definition names the pushed image by digest"


def test_otel_collector_comes_through_an_ecr_public_pull_through_cache(run: ProgramRun) -> None:
    rule = run.one("aws:ecr/pullThroughCacheRule:PullThroughCacheRule").inputs
    assert rule == {**rule, "ecrRepositoryPrefix": f"ecr-public-{run.suffix}", "upstreamRegistryUrl": "public.ecr.aws"}
    assert "credentialArn" not in rule
    cache = run.named("aws:ecr/repository:Repository", "fraud-ecr-public-otel-collector").inputs
    assert cache["name"] == f"ecr-public-{run.suffix}/aws-observability/aws-otel-collector"
    assert cache["imageTagMutability"] == "IMMUTABLE" and cache["forceDelete"] is True
    region = run.config["aws:region"]
    collector = next(i for i in _task_images(run) if "otel" in i)
    assert collector == (
        f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/ecr-public-{run.suffix}/aws-observability/aws-otel-collector:v0.45.1"
    )
    imports = _execution_statements(run)["ImportUpstreamImages"]
    assert imports["Action"] == ["ecr:BatchImportUpstreamImage"]
    assert imports["Resource"] == [
        f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/ecr-public-{run.suffix}/aws-observability/aws-otel-collector"
    ]


def test_api_image_can_be_a_prebuilt_digest_reference_from_this_regions_ecr() -> None:
    image = f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/fraud-api-ci:0123456789abcdef@sha256:{'c' * 64}"
    run = run_program("prod", {"fraud-detection:apiImage": image})
    assert not [r for r in run.of_type("docker-build:index:Image") if r.name == "fraud-api-image"]
    assert not [r for r in run.of_type("aws:ecr/repository:Repository") if r.name == "fraud-api-repository"]
    assert image in _task_images(run)
    assert (
        f"arn:aws:ecr:us-east-1:{ACCOUNT_ID}:repository/fraud-api-ci"
        in _execution_statements(run)["PullImages"]["Resource"]
    )


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("fraud-api:latest", "<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]@sha256:<digest>"),
        (f"{ACCOUNT_ID}.dkr.ecr.us-east-2.amazonaws.com/fraud-api:v1", "@sha256:<digest>"),
        (
            f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/fraud-api@sha256:{'c' * 64}",
            "this stack's region (us-east-2)",
        ),
    ],
)
def test_api_image_must_be_a_digest_in_this_regions_private_ecr(image: str, allowed: str) -> None:
    run = run_program("dev", {"fraud-detection:apiImage": image}, expect_failure=True)
    assert isinstance(run.error, ConfigError)
    assert f"fraud-detection:apiImage = {image!r} is invalid" in str(run.error) and allowed in str(run.error)
    assert not [r for r in run.resources if r.typ.startswith("aws:ecs")]


def test_api_image_from_another_account_is_refused() -> None:
    image = f"210987654321.dkr.ecr.us-east-2.amazonaws.com/fraud-api@sha256:{'c' * 64}"
    run = run_program("dev", {"fraud-detection:apiImage": image}, expect_failure=True)
    assert isinstance(run.error, ConfigError)
    assert f"this account's private ECR ({ACCOUNT_ID}.dkr.ecr.us-east-2.amazonaws.com/...)" in str(run.error)


def test_build_context_is_what_the_content_tag_hashes() -> None:
    # The .dockerignore admits exactly the hashed folders: a build whose context changed always
    # carries a new tag (the repository's tags are immutable).
    assert (ROOT / ".dockerignore").read_text() == dockerignore_text()
    files = context_files()
    assert {"fraud_api/Dockerfile", "fraud_api/requirements.txt", "fraud_scoring/__init__.py"} <= set(files)
    assert not [f for f in files if "/tests/" in f or "__pycache__" in f or f.endswith(".pyc")]


# --- the rollout waits, and starts only when its rights exist ------------------------------------


def test_api_service_waits_for_a_steady_state(run: ProgramRun) -> None:
    assert run.one("aws:ecs/service:Service").inputs["waitForSteadyState"] is True


def test_api_service_depends_on_its_roles_policies_and_attachments(run: ProgramRun) -> None:
    depends_on = set(run.options["fraud-service"].depends_on)
    assert {
        "fraud-execution-role-policy",
        "fraud-task-role-policy",
        "fraud-ecs-infrastructure-role-policy",
        "fraud-ecs-infrastructure-role-managed-0",
    } <= depends_on


def test_api_alb_waits_for_the_access_log_bucket_policy(run: ProgramRun) -> None:
    assert run.options["fraud-lb-alb"].depends_on == ("fraud-access-logs-policy",)


# --- Container Insights' log group belongs to the stack ------------------------------------------


def test_container_insights_performance_log_group_is_the_stacks_encrypted_and_protected() -> None:
    run = run_program("dev", {"fraud-detection:logRetentionDays": "14"})
    group = run.named("aws:cloudwatch/logGroup:LogGroup", "fraud-container-insights-logs").inputs
    assert group["name"] == "/aws/ecs/containerinsights/ecs-fraud-dev/performance"
    assert group["retentionInDays"] == 14 and group["kmsKeyId"].endswith("key/fraud-logs-key")
    protected = {
        p.inputs["logGroupName"] for p in run.of_type("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy")
    }
    assert group["name"] in protected
    assert "fraud-container-insights-logs" in run.options["fraud-cluster"].depends_on


# --- names carry the suffix ----------------------------------------------------------------------


def test_autoscaling_policy_and_schedule_names_carry_the_suffix() -> None:
    run = run_program("dev", {"fraud-detection:environmentSuffix": "qa7"})
    policies = sorted(p.inputs["name"] for p in run.of_type("aws:appautoscaling/policy:Policy"))
    actions = sorted(a.inputs["name"] for a in run.of_type("aws:appautoscaling/scheduledAction:ScheduledAction"))
    assert policies == ["scaling-fraud-api-cpu-qa7", "scaling-fraud-api-requests-qa7"]
    assert actions == ["schedule-fraud-api-night-qa7", "schedule-fraud-api-peak-qa7"]


# --- the self-signed certificate: explicit lifetime, alarmed expiry ------------------------------


def test_self_signed_certificate_lifetime_comes_from_config_and_its_expiry_is_alarmed() -> None:
    run = run_program("dev", {"fraud-detection:apiSelfSignedCertDays": "90"})
    cert = run.one("tls:index/selfSignedCert:SelfSignedCert").inputs
    assert cert["validityPeriodHours"] == 2160 and cert["earlyRenewalHours"] == 720
    certificate_arn = f"arn:aws:acm:us-east-2:{ACCOUNT_ID}:certificate/fraud-lb-certificate"
    alarm = run.one("aws:cloudwatch/metricAlarm:MetricAlarm", "alb-certificate-expiry").inputs
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/CertificateManager", "DaysToExpiry")
    assert alarm["dimensions"] == {"CertificateArn": certificate_arn}
    assert (alarm["comparisonOperator"], alarm["threshold"], alarm["period"]) == ("LessThanThreshold", 30, 86400)
    assert alarm["alarmActions"] == [f"arn:aws:sns:us-east-2:{ACCOUNT_ID}:topic/sns-alarms-dev"]


@pytest.mark.parametrize("days", ["59", "826"])
def test_self_signed_certificate_lifetime_is_bounded(days: str) -> None:
    run = run_program("dev", {"fraud-detection:apiSelfSignedCertDays": days}, expect_failure=True)
    assert isinstance(run.error, ConfigError)
    assert f"fraud-detection:apiSelfSignedCertDays = '{days}' is invalid: allowed a whole number from 60 to 825" in str(
        run.error
    )
