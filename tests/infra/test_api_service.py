"""FraudApiService: image, task, service, ALB, autoscaling, API Gateway and WAF, over both stacks."""

from __future__ import annotations

import json

import pytest
import yaml

from components.api_service import DB_USER
from fraud_api.app.core.config import SERVICE_DB_USER
from tests.support.harness import ACCOUNT_ID, ProgramRun, Recorded, run_program


def _containers(run: ProgramRun) -> dict[str, dict]:
    task = run.named("aws:ecs/taskDefinition:TaskDefinition", "fraud-task")
    return {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}


def _statements(run: ProgramRun, role: str) -> dict[str, dict]:
    policy = run.named("aws:iam/rolePolicy:RolePolicy", f"fraud-{role}-role-policy").inputs["policy"]
    return {s["Sid"]: s for s in json.loads(policy)["Statement"]}


def _rule(run: ProgramRun, role: str) -> Recorded:
    return run.named("aws:lb/listenerRule:ListenerRule", f"fraud-lb-{role}-rule")


@pytest.fixture(scope="module")
def with_domain() -> ProgramRun:
    return run_program(
        "prod",
        {"fraud-detection:apiDomainName": "fraud.example.com", "fraud-detection:apiHostedZoneId": "Z0123456789ABC"},
    )


def test_api_cluster_has_container_insights(run: ProgramRun) -> None:
    cluster = run.one("aws:ecs/cluster:Cluster").inputs
    assert cluster["name"] == f"ecs-fraud-{run.suffix}"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


def test_api_task_is_fargate_one_vcpu_two_gb_with_separate_roles(run: ProgramRun) -> None:
    task = run.named("aws:ecs/taskDefinition:TaskDefinition", "fraud-task").inputs
    assert (task["cpu"], task["memory"]) == ("1024", "2048")
    assert task["networkMode"] == "awsvpc" and task["requiresCompatibilities"] == ["FARGATE"]
    assert task["executionRoleArn"].endswith(f"role/role-api-execution-{run.suffix}")
    assert task["taskRoleArn"].endswith(f"role/role-api-task-{run.suffix}")


def test_api_container_is_read_only_unprivileged_and_health_checked(run: ProgramRun) -> None:
    api = _containers(run)["fraud-api"]
    assert api["readonlyRootFilesystem"] is True and api["privileged"] is False
    assert api["user"] != "0" and api["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert api["portMappings"] == [{"containerPort": 8000, "protocol": "tcp"}]
    assert "/api/health" in api["healthCheck"]["command"][-1]
    assert api["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]


def test_api_container_environment_carries_no_secret_value(run: ProgramRun) -> None:
    api = _containers(run)["fraud-api"]
    environment = {e["name"]: e["value"] for e in api["environment"]}
    assert environment["FRAUD_API_DB_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert environment["FRAUD_API_API_CONFIG_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert environment["FRAUD_API_DB_SSLMODE"] == "verify-full"
    assert environment["FRAUD_API_DB_IAM_AUTH"] == "true"
    assert environment["FRAUD_API_MODEL_BUCKET"] == f"s3-models-{run.suffix}-{ACCOUNT_ID}"
    assert environment["FRAUD_API_MODEL_POINTER_PARAMETER"] == f"/fraud-detection/{run.suffix}/model/promoted"
    assert environment["FRAUD_API_MODEL_SHADOW_PARAMETER"] == f"/fraud-detection/{run.suffix}/model/shadow"
    assert not [n for n in environment if any(w in n for w in ("PASSWORD", "TOKEN", "KEY"))]
    # Secrets are read by the task role at run time (re-read after rotation), never injected.
    assert "secrets" not in api


def test_api_logs_to_a_kms_log_group_and_traces_through_a_sidecar(run: ProgramRun) -> None:
    containers = _containers(run)
    log_group = run.named("aws:cloudwatch/logGroup:LogGroup", "fraud-logs").inputs
    assert log_group["name"] == f"/fraud/fraud-api-{run.suffix}"
    assert log_group["retentionInDays"] == 7 and log_group["kmsKeyId"].endswith("key/fraud-logs-key")
    assert containers["fraud-api"]["logConfiguration"]["options"]["awslogs-group"] == log_group["name"]
    assert set(containers) == {"fraud-api", "otel-collector"}


def test_api_traces_go_over_otlp_to_an_adot_collector_on_the_loopback_address(run: ProgramRun) -> None:
    containers = _containers(run)
    api, collector = containers["fraud-api"], containers["otel-collector"]
    environment = {e["name"]: e["value"] for e in api["environment"]}
    # GIVEN the task THEN fraud-api exports over OTLP/HTTP to the sidecar, which starts first
    assert environment["FRAUD_API_TRACE_EXPORTER"] == "otlp"
    assert environment["FRAUD_API_TRACE_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert "AWS_XRAY_DAEMON_ADDRESS" not in environment
    assert api["dependsOn"] == [{"containerName": "otel-collector", "condition": "START"}]
    # AND the collector is the ADOT image, hardened like fraud-api, not essential (a dead collector
    # costs traces, not decisions), logging without blocking, with no port open to the VPC
    assert collector["image"].endswith("/aws-observability/aws-otel-collector:v0.45.1")
    assert collector["essential"] is False and "portMappings" not in collector
    assert collector["readonlyRootFilesystem"] is True and collector["privileged"] is False
    assert collector["user"] == "10001" and collector["linuxParameters"] == {"capabilities": {"drop": ["ALL"]}}
    assert collector["logConfiguration"]["options"]["mode"] == "non-blocking"
    assert collector["logConfiguration"]["options"]["awslogs-stream-prefix"] == "otel"
    # AND its configuration, passed through the env confmap provider, takes OTLP/HTTP on 127.0.0.1
    # only and exports to X-Ray, with the request id as a searchable annotation
    assert collector["command"] == ["--config=env:ADOT_CONFIG"]
    (variable,) = collector["environment"]
    assert variable["name"] == "ADOT_CONFIG"
    assert yaml.safe_load(variable["value"]) == {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": "127.0.0.1:4318"}}}},
        "processors": {
            "resourcedetection": {"detectors": ["env", "ecs"]},
            "batch/traces": {"timeout": "1s", "send_batch_size": 50},
        },
        "exporters": {"awsxray": {"indexed_attributes": ["fraud.request_id"]}},
        "service": {
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["resourcedetection", "batch/traces"],
                    "exporters": ["awsxray"],
                }
            }
        },
    }


def test_api_task_role_may_only_write_traces_not_read_sampling_rules(run: ProgramRun) -> None:
    tracing = _statements(run, "task")["Tracing"]
    assert tracing["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    assert tracing["Resource"] == ["*"]


def test_api_execution_role_pulls_and_logs_only(run: ProgramRun) -> None:
    statements = _statements(run, "execution")
    actions = {a for s in statements.values() for a in s["Action"]}
    assert actions == {
        "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability", "ecr:BatchImportUpstreamImage", "kms:Decrypt",
        "logs:CreateLogStream", "logs:PutLogEvents",
    }  # fmt: skip


def test_api_task_role_reads_two_secrets_and_connects_as_its_db_user(run: ProgramRun) -> None:
    statements = _statements(run, "task")
    assert statements["ReadOwnSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert statements["ReadOwnSecrets"]["Resource"] == [
        run.outputs["db_master_secret_arn"],
        run.outputs["api_config_secret_arn"],
    ]
    region = run.config["aws:region"]
    assert statements["ConnectAsServiceUser"]["Resource"] == [
        f"arn:aws:rds-db:{region}:{ACCOUNT_ID}:dbuser:cluster-ABCDEFGHIJKL/fraud_api"
    ]


def test_api_task_role_reads_the_model_pointers_and_artifacts_only(run: ProgramRun) -> None:
    statements = _statements(run, "task")
    region = run.config["aws:region"]
    assert statements["ReadModelPointer"] == {
        "Sid": "ReadModelPointer",
        "Effect": "Allow",
        "Action": ["ssm:GetParameter"],
        "Resource": [
            f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/fraud-detection/{run.suffix}/model/promoted",
            f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter/fraud-detection/{run.suffix}/model/shadow",
        ],
    }
    assert statements["ReadModels"] == {
        "Sid": "ReadModels",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::s3-models-{run.suffix}-{ACCOUNT_ID}/models/*"],
    }
    # The artifacts are SSE-KMS with the data key, which the role already decrypts with (its secrets).
    assert statements["DecryptSecrets"]["Resource"] == [f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/fraud-data-key"]


def test_api_service_is_private_on_latest_fargate_with_blue_green(run: ProgramRun) -> None:
    service = run.one("aws:ecs/service:Service")
    inputs = service.inputs
    assert inputs["launchType"] == "FARGATE" and inputs["platformVersion"] == "LATEST"
    assert inputs["networkConfiguration"] == {
        "subnets": ["subnet-private-0", "subnet-private-1", "subnet-private-2"],
        "securityGroups": ["fraud-api-tasks-sg-id"],
        "assignPublicIp": False,
    }
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert inputs["deploymentConfiguration"]["strategy"] == "BLUE_GREEN"
    [target] = inputs["loadBalancers"]
    advanced = target["advancedConfiguration"]
    assert target["targetGroupArn"].endswith(f"tg-api-blue-{run.suffix}")
    assert advanced["alternateTargetGroupArn"].endswith(f"tg-api-green-{run.suffix}")
    assert advanced["productionListenerRule"].endswith("fraud-lb-production-rule")
    assert advanced["testListenerRule"].endswith("fraud-lb-test-rule")
    assert advanced["roleArn"].endswith(f"role/role-api-deployments-{run.suffix}")
    assert run.options[service.name].ignore_changes == ("desiredCount",)


def test_api_listener_rules_ignore_ecs_rewrites_of_their_actions(run: ProgramRun) -> None:
    for role in ("production", "test"):
        assert run.options[_rule(run, role).name].ignore_changes == ("actions",)


def test_api_alb_is_public_https_with_modern_tls_and_logs(run: ProgramRun) -> None:
    alb = run.one("aws:lb/loadBalancer:LoadBalancer").inputs
    assert alb["internal"] is False
    assert alb["subnets"] == ["subnet-public-0", "subnet-public-1", "subnet-public-2"]
    assert alb["dropInvalidHeaderFields"] is True and alb["desyncMitigationMode"] == "defensive"
    assert alb["accessLogs"] == {
        "bucket": f"s3-access-logs-{run.suffix}-{ACCOUNT_ID}",
        "prefix": "alb",
        "enabled": True,
    }
    listeners = {r.inputs["port"]: r.inputs for r in run.of_type("aws:lb/listener:Listener")}
    assert listeners[443]["protocol"] == "HTTPS"
    assert listeners[443]["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[443]["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"
    assert listeners[80]["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]


def test_api_alb_forwards_only_requests_carrying_the_origin_verify_header(run: ProgramRun) -> None:
    secret = run.one("aws:secretsmanager/secretVersion:SecretVersion", "origin-verify").inputs["secretString"]
    for role in ("production", "test"):
        conditions = _rule(run, role).inputs["conditions"]
        headers = {
            c["httpHeader"]["httpHeaderName"]: c["httpHeader"]["values"] for c in conditions if "httpHeader" in c
        }
        assert headers["X-Origin-Verify"] == [secret]
        assert {"pathPattern": {"values": ["/api/*"]}} in conditions
    assert "X-Fraud-Test-Traffic" in str(_rule(run, "test").inputs["conditions"])
    assert run.one("aws:secretsmanager/secret:Secret", "origin-verify").inputs["kmsKeyId"].endswith("fraud-data-key")


def test_api_alb_uses_a_self_signed_certificate_without_a_domain(run: ProgramRun) -> None:
    cert = run.one("tls:index/selfSignedCert:SelfSignedCert").inputs
    assert cert["dnsNames"] == [f"*.{run.config['aws:region']}.elb.amazonaws.com"]
    assert run.one("aws:acm/certificate:Certificate").inputs["certificateBody"].startswith("-----BEGIN CERTIFICATE")
    integration = run.named("aws:apigateway/integration:Integration", "fraud-gateway-api-proxy-integration").inputs
    assert integration["tlsConfig"] == {"insecureSkipVerification": True}


def test_api_alb_certificate_is_dns_validated_with_a_domain(with_domain: ProgramRun) -> None:
    assert not with_domain.of_type("tls:index/selfSignedCert:SelfSignedCert")
    certificate = with_domain.one("aws:acm/certificate:Certificate").inputs
    assert certificate == {**certificate, "domainName": "fraud.example.com", "validationMethod": "DNS"}
    assert with_domain.one("aws:acm/certificateValidation:CertificateValidation")
    integration = with_domain.named("aws:apigateway/integration:Integration", "fraud-gateway-api-proxy-integration")
    assert integration.inputs["uri"] == "https://fraud.example.com/api/{proxy}"
    assert integration.inputs["tlsConfig"] == {"insecureSkipVerification": False}


def test_api_tasks_admit_the_alb_only_and_reach_the_database(run: ProgramRun) -> None:
    [ingress] = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert ingress.inputs["securityGroupId"] == "fraud-api-tasks-sg-id"
    assert ingress.inputs["referencedSecurityGroupId"] == "fraud-lb-sg-id"
    assert ingress.inputs["fromPort"] == 8000
    egress = [
        r.inputs
        for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r.inputs["securityGroupId"] == "fraud-api-tasks-sg-id"
    ]
    [database] = [r for r in egress if r["fromPort"] == 5432]
    assert database["referencedSecurityGroupId"] == "fraud-aurora-sg-id"
    assert sorted(r["fromPort"] for r in egress) == [443, 443, 443, 5432]


def test_api_scales_on_cpu_and_requests_with_a_daily_floor(run: ProgramRun) -> None:
    target = run.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (
        int(run.config["fraud-detection:apiMinTasks"]),
        int(run.config["fraud-detection:apiMaxTasks"]),
    )
    policies = {p.inputs["name"]: p.inputs for p in run.of_type("aws:appautoscaling/policy:Policy")}
    cpu = policies[f"scaling-fraud-api-cpu-{run.suffix}"]["targetTrackingScalingPolicyConfiguration"]
    assert cpu["targetValue"] == 70
    assert cpu["predefinedMetricSpecification"] == {"predefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert cpu["scaleOutCooldown"] < cpu["scaleInCooldown"]
    requests = policies[f"scaling-fraud-api-requests-{run.suffix}"]["targetTrackingScalingPolicyConfiguration"]
    assert [m["id"] for m in requests["customizedMetricSpecification"]["metrics"]] == ["requests", "tasks", "per_task"]
    actions = {a.inputs["name"]: a.inputs for a in run.of_type("aws:appautoscaling/scheduledAction:ScheduledAction")}
    peak, night = actions[f"schedule-fraud-api-peak-{run.suffix}"], actions[f"schedule-fraud-api-night-{run.suffix}"]
    assert peak["schedule"] == "cron(0 12 * * ? *)"
    assert peak["scalableTargetAction"]["minCapacity"] == int(run.config["fraud-detection:apiPeakMinTasks"])
    assert night["scalableTargetAction"]["minCapacity"] == target["minCapacity"]


def test_api_gateway_routes_every_path_with_an_api_key(run: ProgramRun) -> None:
    api = run.one("aws:apigateway/restApi:RestApi").inputs
    assert api["endpointConfiguration"] == {"types": "REGIONAL"}
    methods = run.of_type("aws:apigateway/method:Method")
    assert sorted(m.inputs["httpMethod"] for m in methods) == ["ANY", "GET", "POST", "POST"]
    assert all(m.inputs["apiKeyRequired"] is True for m in methods)
    paths = sorted(r.inputs["pathPart"] for r in run.of_type("aws:apigateway/resource:Resource"))
    assert paths == ["api", "label", "transactions", "{id}", "{proxy+}"]


def test_api_gateway_sends_transactions_to_the_processor_and_api_to_the_alb(run: ProgramRun) -> None:
    integrations = {r.name: r.inputs for r in run.of_type("aws:apigateway/integration:Integration")}
    for key in ("post-transactions", "get-transaction", "post-label"):
        proxy = integrations[f"fraud-gateway-{key}-integration"]
        assert proxy["type"] == "AWS_PROXY" and proxy["uri"].endswith(
            f"function:lambda-processor-{run.suffix}/invocations"
        )
    alb = integrations["fraud-gateway-api-proxy-integration"]
    assert alb["type"] == "HTTP_PROXY" and alb["uri"].startswith("https://alb-fraud-api-")
    secret = run.one("aws:secretsmanager/secretVersion:SecretVersion", "origin-verify").inputs["secretString"]
    assert alb["requestParameters"]["integration.request.header.X-Origin-Verify"] == f"'{secret}'"
    permissions = [p.inputs for p in run.of_type("aws:lambda/permission:Permission") if "processor" in p.name]
    assert sorted(p["sourceArn"].split("/*/", 1)[1] for p in permissions) == [
        "GET/transactions/*",
        "POST/transactions",
        "POST/transactions/*/label",
    ]


def test_api_gateway_label_route_posts_to_the_processor_under_the_key(run: ProgramRun) -> None:
    # GIVEN the program WHEN the label route is declared
    method = run.one("aws:apigateway/method:Method", "post-label").inputs
    # THEN it is POST /transactions/{id}/label, key required, id a path parameter, to the processor
    assert (method["httpMethod"], method["apiKeyRequired"], method["authorization"]) == ("POST", True, "NONE")
    assert method["requestParameters"] == {"method.request.path.id": True}
    assert run.one("aws:apigateway/resource:Resource", "transaction-label").inputs["pathPart"] == "label"
    integration = run.one("aws:apigateway/integration:Integration", "post-label-integration").inputs
    assert (integration["type"], integration["integrationHttpMethod"]) == ("AWS_PROXY", "POST")


def test_api_gateway_stage_traces_logs_without_bodies_and_throttles(run: ProgramRun) -> None:
    stage = run.one("aws:apigateway/stage:Stage").inputs
    assert stage["xrayTracingEnabled"] is True
    access_format = json.loads(stage["accessLogSettings"]["format"])
    assert not [v for v in access_format.values() if "body" in v.lower()]
    for settings in run.of_type("aws:apigateway/methodSettings:MethodSettings"):
        values = settings.inputs["settings"]
        assert values["dataTraceEnabled"] is False and values["loggingLevel"] == "INFO"
        assert values["throttlingRateLimit"] <= 1000
    paths = {s.inputs["methodPath"] for s in run.of_type("aws:apigateway/methodSettings:MethodSettings")}
    assert paths == {"*/*", "transactions/POST", "transactions/{id}/GET"}


def test_api_gateway_usage_plan_meters_1000_requests_per_second(run: ProgramRun) -> None:
    plan = run.one("aws:apigateway/usagePlan:UsagePlan").inputs
    assert plan["throttleSettings"] == {"rateLimit": 1000.0, "burstLimit": 2000.0}
    assert plan["apiStages"][0]["stage"] == "v1"
    key = run.one("aws:apigateway/usagePlanKey:UsagePlanKey").inputs
    assert key["keyType"] == "API_KEY"


def test_api_gateway_redeploys_when_routes_change(run: ProgramRun) -> None:
    deployment = run.one("aws:apigateway/deployment:Deployment")
    assert len(deployment.inputs["triggers"]["routes"]) == 64
    assert len(run.options[deployment.name].depends_on) == 8, "every method and integration"


def test_api_service_linked_roles_only_when_asked(dev: ProgramRun) -> None:
    assert not dev.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    asked = run_program("dev", {"fraud-detection:createServiceLinkedRoles": "true"})
    services = sorted(r.inputs["awsServiceName"] for r in asked.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole"))
    assert services == [
        "ecs.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "rds.amazonaws.com",
    ]


def test_api_exports_the_front_door(run: ProgramRun) -> None:
    assert run.outputs["api_url"] == f"https://a1b2c3d4e5.execute-api.{run.config['aws:region']}.amazonaws.com/v1"
    assert run.outputs["alb_dns_name"].startswith(f"alb-fraud-api-{run.suffix}-")
    assert run.outputs["api_key_id"]
    assert run.outputs["ecs_cluster_name"] == f"ecs-fraud-{run.suffix}"
    assert run.outputs["ecs_service_name"] == f"svc-fraud-api-{run.suffix}"


def test_api_task_role_names_the_database_user_the_service_logs_in_as() -> None:
    assert DB_USER == SERVICE_DB_USER
