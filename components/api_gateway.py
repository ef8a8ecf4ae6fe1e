"""ApiFrontDoor: the REST API, the single entry point of the system (a child of FraudApiService)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.context import AwsContext
from components.load_balancer import ORIGIN_VERIFY_HEADER, TEST_TRAFFIC_HEADER
from components.naming import Kind, Namer
from components.policies import assume_role_policy

STAGE = "v1"
# execute-api accepts TLS 1.3 and 1.2 only, with forward-secret ciphers (the legacy default of a
# REST API's endpoint, TLS_1_0, also accepts 1.0 and 1.1). Enhanced policies (SecurityPolicy_*)
# need an endpoint access mode; STRICT also refuses requests whose SNI names another API
# (pulumi_aws apigateway/rest_api.py: security_policy, endpoint_access_mode; API Gateway developer
# guide: apigateway-security-policies, apigateway-security-policies-list).
SECURITY_POLICY = "SecurityPolicy_TLS13_1_2_2021_06"
ENDPOINT_ACCESS_MODE = "STRICT"
# The value the ALB gets in the test-traffic header whatever a caller sends: only requests sent
# straight to the ALB with the origin-verify secret can reach green tasks during a rollout.
PRODUCTION_TRAFFIC = "false"
# Answer well inside the 200 ms budget or fail fast; API Gateway's default waits 29 s.
ALB_TIMEOUT_MS = 3000
# One line per request, never a body: the card number travels in bodies.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "apiKeyId": "$context.identity.apiKeyId",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency",
        "wafResponse": "$context.wafResponseCode",
        "xrayTraceId": "$context.xrayTraceId",
    },
    sort_keys=True,
)


@dataclass(frozen=True)
class ApiFrontDoorArgs:
    ctx: AwsContext
    namer: Namer
    processor_function_name: pulumi.Input[str]
    processor_invoke_arn: pulumi.Input[str]
    alb_dns_name: pulumi.Input[str]
    alb_certificate_is_self_signed: bool
    origin_verify_value: pulumi.Input[str]
    rate_limit: int
    burst_limit: int
    log_retention_days: int
    logs_kms_key_arn: pulumi.Input[str]
    # Whether this stack sets the region's API Gateway account CloudWatch role (manageApiGatewayAccount).
    manage_account: bool


@dataclass(frozen=True)
class _Integration:
    """What a method forwards to: the typed keyword arguments of aws.apigateway.Integration."""

    type: str
    integration_http_method: str
    uri: pulumi.Input[str]
    # Mapping keys are API Gateway expressions (integration.request.header.X), so this stays a map.
    request_parameters: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    # HTTP integrations only: whether API Gateway skips the backend certificate's issuer check.
    skip_tls_issuer_check: bool | None = None
    timeout_milliseconds: int | None = None

    def spec(self) -> dict[str, Any]:
        """Everything that changes the routing, for the deployment's fingerprint."""
        return {
            "type": self.type,
            "integration_http_method": self.integration_http_method,
            "uri": self.uri,
            "request_parameters": self.request_parameters,
            "skip_tls_issuer_check": self.skip_tls_issuer_check,
            "timeout_milliseconds": self.timeout_milliseconds,
        }


class ApiFrontDoor(pulumi.ComponentResource):
    """REGIONAL REST API: /transactions/* to the processor Lambda, /api/* to the ALB; API key on every method."""

    def __init__(self, name: str, args: ApiFrontDoorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:api:ApiFrontDoor", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.rest_api = self._create_rest_api()
        self._routes: list[pulumi.Resource] = []
        self._route_spec: list[dict[str, Any]] = []
        self._route_transactions()
        self._route_api()
        self._allow_processor_invocation()
        self.deployment = self._deploy()
        self.stage = self._create_stage()
        self._configure_methods()
        self.api_key = self._meter_usage()

        self.rest_api_name: str = args.namer.name(Kind.REST_API, "fraud")
        self.stage_name: str = STAGE
        self.url: pulumi.Output[str] = self.stage.invoke_url
        self.stage_arn: pulumi.Output[str] = self.stage.arn
        self.api_key_id: pulumi.Output[str] = self.api_key.id
        self.rest_api_id: pulumi.Output[str] = self.rest_api.id
        self.register_outputs({"url": self.url, "api_key_id": self.api_key_id, "stage_arn": self.stage_arn})

    def _create_rest_api(self) -> aws.apigateway.RestApi:
        return aws.apigateway.RestApi(
            f"{self._resource_name}-api",
            name=self._args.namer.name(Kind.REST_API, "fraud"),
            description="fraud-detection: transactions ingestion and real-time scoring",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types="REGIONAL"),
            api_key_source="HEADER",
            security_policy=SECURITY_POLICY,
            endpoint_access_mode=ENDPOINT_ACCESS_MODE,
            opts=self._child,
        )

    def _resource(self, key: str, parent_id: pulumi.Input[str], path_part: str) -> aws.apigateway.Resource:
        return aws.apigateway.Resource(
            f"{self._resource_name}-{key}",
            rest_api=self.rest_api.id,
            parent_id=parent_id,
            path_part=path_part,
            opts=self._child,
        )

    def _method(
        self,
        key: str,
        resource: aws.apigateway.Resource,
        http_method: str,
        integration: _Integration,
        path_parameter: str | None = None,
    ) -> None:
        """A method that requires an API key, and its integration."""
        request_parameters = {f"method.request.path.{path_parameter}": True} if path_parameter else None
        method = aws.apigateway.Method(
            f"{self._resource_name}-{key}",
            rest_api=self.rest_api.id,
            resource_id=resource.id,
            http_method=http_method,
            # Callers authenticate with an API key; the usage plan meters and throttles each key.
            authorization="NONE",
            api_key_required=True,
            request_parameters=request_parameters,
            opts=self._child,
        )
        integration_resource = aws.apigateway.Integration(
            f"{self._resource_name}-{key}-integration",
            aws.apigateway.IntegrationArgs(
                rest_api=self.rest_api.id,
                resource_id=resource.id,
                http_method=method.http_method,
                type=integration.type,
                integration_http_method=integration.integration_http_method,
                uri=integration.uri,
                request_parameters=integration.request_parameters or None,
                tls_config=None
                if integration.skip_tls_issuer_check is None
                else aws.apigateway.IntegrationTlsConfigArgs(
                    insecure_skip_verification=integration.skip_tls_issuer_check
                ),
                timeout_milliseconds=integration.timeout_milliseconds,
            ),
            opts=self._child,
        )
        self._routes += [method, integration_resource]
        self._route_spec.append({"route": key, "method": http_method, **integration.spec()})

    def _route_transactions(self) -> None:
        lambda_proxy = _Integration(
            type="AWS_PROXY", integration_http_method="POST", uri=self._args.processor_invoke_arn
        )
        transactions = self._resource("transactions", self.rest_api.root_resource_id, "transactions")
        transaction = self._resource("transaction", transactions.id, "{id}")
        self._method("post-transactions", transactions, "POST", lambda_proxy)
        self._method("get-transaction", transaction, "GET", lambda_proxy, path_parameter="id")
        label = self._resource("transaction-label", transaction.id, "label")
        self._method("post-label", label, "POST", lambda_proxy, path_parameter="id")

    def _route_api(self) -> None:
        api = self._resource("api", self.rest_api.root_resource_id, "api")
        proxy = self._resource("api-proxy", api.id, "{proxy+}")
        self._method(
            "api-proxy",
            proxy,
            "ANY",
            _Integration(
                type="HTTP_PROXY",
                integration_http_method="ANY",
                uri=pulumi.Output.concat("https://", self._args.alb_dns_name, "/api/{proxy}"),
                request_parameters={
                    "integration.request.path.proxy": "method.request.path.proxy",
                    **self._internal_headers(),
                },
                # A self-signed certificate (no domain configured) has no public issuer; the name
                # and expiry are still verified.
                skip_tls_issuer_check=self._args.alb_certificate_is_self_signed,
                timeout_milliseconds=ALB_TIMEOUT_MS,
            ),
            path_parameter="proxy",
        )

    def _internal_headers(self) -> dict[str, pulumi.Input[str]]:
        """Headers the ALB routes on, set to API Gateway's own static values ('...').

        A proxy integration passes the caller's headers through, but a request parameter mapping
        applies to proxy integrations too and replaces the caller's value (API Gateway developer
        guide: rest-api-parameter-mapping), so a caller can neither guess the origin-verify header
        into the ALB nor send X-Fraud-Test-Traffic: true to reach green tasks mid-rollout.
        """
        return {
            # The ALB forwards only requests that carry this header (see load_balancer.py).
            f"integration.request.header.{ORIGIN_VERIFY_HEADER}": pulumi.Output.concat(
                "'", self._args.origin_verify_value, "'"
            ),
            # ECS's test listener rule forwards "true" to the green target group (load_balancer.py).
            f"integration.request.header.{TEST_TRAFFIC_HEADER}": f"'{PRODUCTION_TRAFFIC}'",
        }

    def _allow_processor_invocation(self) -> None:
        for key, route in (
            ("post", "POST/transactions"),
            ("get", "GET/transactions/*"),
            ("label", "POST/transactions/*/label"),
        ):
            aws.lambda_.Permission(
                f"{self._resource_name}-processor-{key}",
                action="lambda:InvokeFunction",
                function=self._args.processor_function_name,
                principal="apigateway.amazonaws.com",
                source_arn=pulumi.Output.concat(self.rest_api.execution_arn, f"/*/{route}"),
                opts=self._child,
            )

    def _deploy(self) -> aws.apigateway.Deployment:
        # A deployment is a snapshot: it must be replaced whenever a route or integration changes.
        fingerprint = pulumi.Output.json_dumps(self._route_spec).apply(
            lambda spec: hashlib.sha256(spec.encode()).hexdigest()
        )
        return aws.apigateway.Deployment(
            f"{self._resource_name}-deployment",
            rest_api=self.rest_api.id,
            description="fraud-detection routes",
            triggers={"routes": fingerprint},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self._routes),
        )

    def _create_stage(self) -> aws.apigateway.Stage:
        a = self._args
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{self._resource_name}-access-logs",
            name=a.namer.name(Kind.LOG_GROUP, "apigw-access"),
            retention_in_days=a.log_retention_days,
            kms_key_id=a.logs_kms_key_arn,
            opts=self._child,
        )
        # API Gateway creates its execution log group on first use, unencrypted and kept forever.
        self.execution_log_group = aws.cloudwatch.LogGroup(
            f"{self._resource_name}-execution-logs",
            name=pulumi.Output.concat("API-Gateway-Execution-Logs_", self.rest_api.id, f"/{STAGE}"),
            retention_in_days=a.log_retention_days,
            kms_key_id=a.logs_kms_key_arn,
            opts=self._child,
        )
        # Logging needs the account's CloudWatch role: wait for it when this stack sets it.
        account = self._enable_execution_logging() if a.manage_account else None
        return aws.apigateway.Stage(
            f"{self._resource_name}-stage",
            rest_api=self.rest_api.id,
            deployment=self.deployment.id,
            stage_name=STAGE,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn, format=ACCESS_LOG_FORMAT
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account] if account else []),
        )

    def _enable_execution_logging(self) -> aws.apigateway.Account:
        """The role API Gateway writes logs with, set on the account: one setting per account and
        region, so exactly one stack per region declares it (manageApiGatewayAccount; README)."""
        # Not components.iam.create_workload_role: that always writes an inline policy, and this role
        # has only AWS's managed one. The account setting waits for the attachment: API Gateway
        # checks the role's permissions when the setting is made.
        role = aws.iam.Role(
            f"{self._resource_name}-cloudwatch-role",
            name=self._args.namer.name(Kind.ROLE, "apigw-logs"),
            assume_role_policy=assume_role_policy("apigateway"),
            opts=self._child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{self._resource_name}-cloudwatch-role-managed-0",
            role=role.name,
            policy_arn=f"arn:{self._args.ctx.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
            opts=self._child,
        )
        return aws.apigateway.Account(
            f"{self._resource_name}-account",
            cloudwatch_role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )

    def _configure_methods(self) -> None:
        a = self._args
        # Every method: metrics, INFO execution logs, never data trace (it logs whole bodies: PANs).
        for key, path, rate, burst in (
            ("all", "*/*", a.rate_limit, a.burst_limit),
            ("post-transactions", "transactions/POST", a.rate_limit, a.burst_limit),
            ("get-transaction", "transactions/{id}/GET", max(1, a.rate_limit // 2), max(1, a.burst_limit // 2)),
        ):
            aws.apigateway.MethodSettings(
                f"{self._resource_name}-settings-{key}",
                rest_api=self.rest_api.id,
                stage_name=self.stage.stage_name,
                method_path=path,
                settings=aws.apigateway.MethodSettingsSettingsArgs(
                    metrics_enabled=True,
                    logging_level="INFO",
                    data_trace_enabled=False,
                    throttling_rate_limit=rate,
                    throttling_burst_limit=burst,
                ),
                opts=self._child,
            )

    def _meter_usage(self) -> aws.apigateway.ApiKey:
        a = self._args
        plan = aws.apigateway.UsagePlan(
            f"{self._resource_name}-usage-plan",
            name=a.namer.name(Kind.REST_API, "fraud-usage"),
            description=f"{a.rate_limit} requests/s steady, {a.burst_limit} burst",
            api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=self.rest_api.id, stage=self.stage.stage_name)],
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=a.rate_limit, burst_limit=a.burst_limit
            ),
            opts=self._child,
        )
        key = aws.apigateway.ApiKey(
            f"{self._resource_name}-api-key",
            name=a.namer.name(Kind.REST_API, "fraud-client"),
            description="Default client key (issue one key per client in production)",
            enabled=True,
            opts=self._child,
        )
        aws.apigateway.UsagePlanKey(
            f"{self._resource_name}-usage-plan-key",
            key_id=key.id,
            key_type="API_KEY",
            usage_plan_id=plan.id,
            opts=self._child,
        )
        return key
