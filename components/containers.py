"""The fraud-api task's containers: the service and its OpenTelemetry collector sidecar.

Both images come from private ECR repositories the task reaches in every stack (image.py).

The contract with the image (fraud_api/Dockerfile): it listens on CONTAINER_PORT, answers
HEALTH_PATH while the process is alive, runs as an unprivileged user, writes only to /tmp, and
reads its settings from FRAUD_API_* variables. No secret value is in the environment: the service
reads the RDS-managed secret (for its migrations) and the API configuration secret with its task
role at run time, because it must read them again after each rotation, and its requests log in
to the database with IAM tokens, so no password is involved at all.
"""

from __future__ import annotations

import json
from typing import Any

CONTAINER = "fraud-api"
CONTAINER_PORT = 8000
HEALTH_PATH = "/api/health"
APP_USER = "10001"
COLLECTOR = "otel-collector"
COLLECTOR_USER = "10001"
OTLP_HTTP_ENDPOINT = "127.0.0.1:4318"
# The AWS Distro for OpenTelemetry collector replaces the X-Ray daemon, which AWS put in maintenance
# mode (fraud_api/app/core/tracing.py). Its image ships ECS configurations (/etc/ecs/ecs-default-config.yaml,
# the default command, and /etc/ecs/ecs-xray.yaml: aws-observability/aws-otel-collector config/ecs/),
# but those listen on 0.0.0.0 (OTLP gRPC and HTTP, and the default one also X-Ray UDP and StatsD).
# This one is ecs-xray.yaml narrowed: OTLP/HTTP only, on the loopback address (only the task's own
# containers can send), to X-Ray; it reaches the collector through its documented env confmap
# provider (--config=env:NAME, https://aws-otel.github.io/docs/components/confmap-providers).
# fraud.request_id becomes an X-Ray annotation, so a decision's trace is found by its request id.
COLLECTOR_CONFIG = f"""\
receivers:
  otlp:
    protocols:
      http:
        endpoint: {OTLP_HTTP_ENDPOINT}
processors:
  resourcedetection:
    detectors: [env, ecs]
  batch/traces:
    timeout: 1s
    send_batch_size: 50
exporters:
  awsxray:
    indexed_attributes: [fraud.request_id]
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resourcedetection, batch/traces]
      exporters: [awsxray]
"""
HEALTH_CHECK = (
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}{HEALTH_PATH}', timeout=2)"
)


def _logging(region: str, log_group: str, prefix: str) -> dict[str, Any]:
    # non-blocking: a slow log pipeline must never stall a scoring request.
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": prefix,
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    }


def container_definitions(
    region: str,
    image: str,
    collector_image: str,
    log_group: str,
    db_host: str,
    db_secret_arn: str,
    api_config_secret_arn: str,
    models_bucket: str,
    model_pointer_parameter: str,
    model_shadow_parameter: str,
    *,
    db_port: int,
    db_name: str,
) -> str:
    """The task definition's container JSON."""
    environment = {
        "FRAUD_API_ENVIRONMENT": "aws",
        "FRAUD_API_DB_HOST": db_host,
        "FRAUD_API_DB_PORT": str(db_port),
        "FRAUD_API_DB_NAME": db_name,
        "FRAUD_API_DB_SECRET_ARN": db_secret_arn,
        "FRAUD_API_DB_SSLMODE": "verify-full",
        # Requests run as the service's own database user with IAM tokens (the task role's
        # rds-db:connect); only migrations use the master secret.
        "FRAUD_API_DB_IAM_AUTH": "true",
        "FRAUD_API_API_CONFIG_SECRET_ARN": api_config_secret_arn,
        # The promoted model version, followed without a redeploy (fraud_scoring.registry).
        "FRAUD_API_MODEL_BUCKET": models_bucket,
        "FRAUD_API_MODEL_POINTER_PARAMETER": model_pointer_parameter,
        "FRAUD_API_MODEL_SHADOW_PARAMETER": model_shadow_parameter,
        "AWS_REGION": region,
        "WEB_CONCURRENCY": "2",
        "FRAUD_API_TRACE_EXPORTER": "otlp",
        "FRAUD_API_TRACE_OTLP_ENDPOINT": f"http://{OTLP_HTTP_ENDPOINT}",
    }
    api = {
        "name": CONTAINER,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "readonlyRootFilesystem": True,
        "privileged": False,
        "user": APP_USER,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        # The only writable path: Python's and uvicorn's temporary files.
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        "healthCheck": {
            "command": ["CMD", "python", "-c", HEALTH_CHECK],
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 30,
        },
        "logConfiguration": _logging(region, log_group, "api"),
        "dependsOn": [{"containerName": COLLECTOR, "condition": "START"}],
    }
    collector = {
        "name": COLLECTOR,
        "image": collector_image,
        # Not essential: a collector that dies costs traces, never decisions (fraud-api's exporter
        # drops spans it cannot send).
        "essential": False,
        "command": ["--config=env:ADOT_CONFIG"],
        "environment": [{"name": "ADOT_CONFIG", "value": COLLECTOR_CONFIG}],
        "cpu": 32,
        "memoryReservation": 256,
        "readonlyRootFilesystem": True,
        "privileged": False,
        "user": COLLECTOR_USER,
        "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
        "logConfiguration": _logging(region, log_group, "otel"),
    }
    return json.dumps([api, collector])
