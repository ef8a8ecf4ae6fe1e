"""Compliant and non-compliant cases for the API Gateway, WAF, IAM and observability rules."""

from __future__ import annotations

import json
from typing import Any

from policy_support import Case, StackCase, doc, res

SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
STAGE = "aws:apigateway/stage:Stage"
METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
ACL = "aws:wafv2/webAcl:WebAcl"
ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
LB = "aws:lb/loadBalancer:LoadBalancer"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DATA_PROTECTION = "aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"

SAFE_SETTINGS = {"metricsEnabled": True, "loggingLevel": "INFO", "dataTraceEnabled": False}
ALB_PROXY = {"type": "HTTP_PROXY", "uri": "https://alb.example.com/api/{proxy}"}


def managed(name: str, override: str = "none") -> dict[str, Any]:
    return {
        "name": name,
        "priority": 10,
        "overrideAction": {override: {}},
        "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": name}},
    }


GOOD_RULES = [
    {"name": "rate", "priority": 0, "action": {"block": {}}, "statement": {"rateBasedStatement": {"limit": 1000}}},
    managed("AWSManagedRulesCommonRuleSet"),
    managed("AWSManagedRulesKnownBadInputsRuleSet"),
]
LAMBDA_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})


def allow(actions: list[str], resources: list[str], sid: str = "S") -> str:
    return doc({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources})


def protection(*identifiers: str, deidentify: bool = True) -> str:
    """A data protection policy that audits the identifiers and, unless told otherwise, masks them."""
    ids = [f"arn:aws:dataprotection::aws:data-identifier/{i}" for i in identifiers]
    statements = [{"Sid": "audit", "DataIdentifier": ids, "Operation": {"Audit": {"FindingsDestination": {}}}}]
    if deidentify:
        statements.append({"Sid": "redact", "DataIdentifier": ids, "Operation": {"Deidentify": {"MaskConfig": {}}}})
    return json.dumps({"Name": "p", "Version": "2021-06-01", "Statement": statements})


CARD = ("CreditCardNumber", "CreditCardSecurityCode", "CreditCardExpiration")

CASES = [
    Case("pci-apigateway-1-execution-logging", SETTINGS, {"settings": SAFE_SETTINGS}),
    Case(
        "pci-apigateway-1-execution-logging",
        SETTINGS,
        {"settings": {"loggingLevel": "OFF"}},
        "execution logging level must be INFO or ERROR, not 'OFF'",
    ),
    Case(
        "pci-apigateway-1-execution-logging",
        SETTINGS,
        {"settings": {**SAFE_SETTINGS, "loggingLevel": "ERROR"}},
        label="errors-only",
    ),
    Case("pci-apigateway-data-trace-off", SETTINGS, {"settings": SAFE_SETTINGS}),
    Case(
        "pci-apigateway-data-trace-off",
        SETTINGS,
        {"settings": {**SAFE_SETTINGS, "dataTraceEnabled": True}},
        "data trace logs whole request and response bodies (card numbers, CVV); it must stay off",
    ),
    Case(
        "pci-apigateway-5-cache-encrypted",
        SETTINGS,
        {"settings": {**SAFE_SETTINGS, "cachingEnabled": True, "cacheDataEncrypted": True}},
    ),
    Case(
        "pci-apigateway-5-cache-encrypted",
        SETTINGS,
        {"settings": {**SAFE_SETTINGS, "cachingEnabled": True}},
        "cached responses must be encrypted (cacheDataEncrypted=true)",
    ),
    Case(
        "pci-apigateway-9-access-logging",
        STAGE,
        {"stageName": "v1", "accessLogSettings": {"destinationArn": "arn:lg", "format": "{}"}},
    ),
    Case(
        "pci-apigateway-9-access-logging",
        STAGE,
        {"stageName": "v1"},
        "stage must write access logs (accessLogSettings destination and format)",
    ),
    Case(
        "pci-apigateway-9-access-logging",
        STAGE,
        {"stageName": "v1", "accessLogSettings": {"destinationArn": "arn:lg"}},
        "stage must write access logs (accessLogSettings destination and format)",
        label="no-format",
    ),
    Case(
        "pci-apigateway-9-access-logging",
        STAGE,
        {"stageName": "v1", "accessLogSettings": {"format": "{}"}},
        "stage must write access logs (accessLogSettings destination and format)",
        label="no-destination",
    ),
    Case(
        "pci-apigateway-method-authorization",
        METHOD,
        {"httpMethod": "POST", "authorization": "NONE", "apiKeyRequired": True},
    ),
    Case(
        "pci-apigateway-method-authorization",
        METHOD,
        {"httpMethod": "GET", "authorization": "COGNITO_USER_POOLS"},
        label="authorizer",
    ),
    Case(
        "pci-apigateway-method-authorization",
        METHOD,
        {"httpMethod": "GET", "authorization": "NONE"},
        "GET method is open: require an authorizer or an API key",
    ),
    Case(
        "pci-apigateway-method-authorization",
        METHOD,
        {"httpMethod": "DELETE"},
        "DELETE method is open: require an authorizer or an API key",
        label="unset",
    ),
    Case("pci-apigateway-backend-tls", INTEGRATION, ALB_PROXY),
    Case(
        "pci-apigateway-backend-tls",
        INTEGRATION,
        {**ALB_PROXY, "tlsConfig": {"insecureSkipVerification": True}},
        config={"allowSelfSignedBackend": True},
        label="self-signed-allowed",
    ),
    Case(
        "pci-apigateway-backend-tls",
        INTEGRATION,
        {"type": "HTTP_PROXY", "connectionType": "VPC_LINK", "uri": "http://nlb.internal/"},
        label="vpc-link",
    ),
    Case(
        "pci-apigateway-backend-tls",
        INTEGRATION,
        {"type": "AWS_PROXY", "uri": "arn:aws:apigateway:eu-west-1:lambda:path/functions/arn/invocations"},
        label="lambda",
    ),
    Case(
        "pci-apigateway-backend-tls",
        INTEGRATION,
        {**ALB_PROXY, "uri": "http://alb.example.com/"},
        "HTTP integration must call its backend over HTTPS, not 'http://alb.example.com/'",
    ),
    Case(
        "pci-apigateway-backend-tls",
        INTEGRATION,
        {**ALB_PROXY, "tlsConfig": {"insecureSkipVerification": True}},
        "backend certificate issuer is not verified (insecureSkipVerification) in a stack that forbids it",
        label="self-signed-forbidden",
    ),
    Case("pci-waf-10-has-rules", ACL, {"rules": GOOD_RULES}),
    Case("pci-waf-10-has-rules", ACL, {"rules": []}, "web ACL has no rules"),
    Case("pci-waf-block-mode", ACL, {"rules": GOOD_RULES}),
    Case(
        "pci-waf-block-mode",
        ACL,
        {"rules": [managed("AWSManagedRulesCommonRuleSet", "count")]},
        "rule 'AWSManagedRulesCommonRuleSet' only counts matches; it must block",
    ),
    Case(
        "pci-waf-block-mode",
        ACL,
        {"rules": [{**GOOD_RULES[0], "action": {"count": {}}}]},
        "rule 'rate' only counts matches; it must block",
        label="rule-action",
    ),
    Case("pci-waf-managed-rules", ACL, {"rules": GOOD_RULES}),
    Case(
        "pci-waf-managed-rules",
        ACL,
        {"rules": GOOD_RULES[:2]},
        "web ACL must include AWSManagedRulesKnownBadInputsRuleSet (Log4j and other known exploits)",
    ),
    Case(
        "pci-waf-managed-rules",
        ACL,
        {
            "rules": [
                GOOD_RULES[2],
                {
                    **managed("AWSManagedRulesCommonRuleSet"),
                    "statement": {
                        "managedRuleGroupStatement": {"vendorName": "Acme", "name": "AWSManagedRulesCommonRuleSet"}
                    },
                },
            ]
        },
        "web ACL must include AWSManagedRulesCommonRuleSet (continuously updated OWASP protections)",
        label="foreign-vendor",
    ),
    Case(
        "pci-waf-log-redaction",
        ACL_LOGGING,
        {"redactedFields": [{"singleHeader": {"name": "x-api-key"}}, {"singleHeader": {"name": "Authorization"}}]},
    ),
    Case(
        "pci-waf-log-redaction",
        ACL_LOGGING,
        {"redactedFields": [{"singleHeader": {"name": "x-api-key"}}]},
        "WAF logs must redact the x-origin-verify header (an authentication factor)",
        {"redactedHeaders": ["x-api-key", "x-origin-verify"]},
    ),
    # IAM
    Case("pci-iam-no-wildcard-actions", ROLE_POLICY, {"policy": allow(["dynamodb:GetItem"], ["arn:table"])}),
    Case(
        "pci-iam-no-wildcard-actions",
        ROLE_POLICY,
        {"policy": allow(["s3:*"], ["arn:bucket"])},
        "statement 'S' allows 's3:*'; name the actions",
    ),
    Case(
        "pci-iam-no-wildcard-actions",
        ROLE,
        {"assumeRolePolicy": LAMBDA_TRUST, "inlinePolicies": [{"name": "p", "policy": allow(["*"], ["*"])}]},
        "statement 'S' allows '*'; name the actions",
        label="inline",
    ),
    Case("pci-iam-scoped-resources", ROLE_POLICY, {"policy": allow(["xray:PutTraceSegments"], ["*"])}),
    Case(
        "pci-iam-scoped-resources",
        ROLE_POLICY,
        {"policy": allow(["dynamodb:Query"], ["arn:aws:dynamodb:t"])},
        label="scoped",
    ),
    Case(
        "pci-iam-scoped-resources",
        ROLE_POLICY,
        {"policy": allow(["xray:PutTraceSegments", "s3:GetObject"], ["*"])},
        "statement 'S' grants ['s3:GetObject'] on every resource ('*')",
    ),
    Case(
        "pci-iam-no-admin-policies",
        ATTACHMENT,
        {"policyArn": "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"},
    ),
    Case(
        "pci-iam-no-admin-policies",
        ATTACHMENT,
        {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        "arn:aws:iam::aws:policy/AdministratorAccess grants administrative rights",
    ),
    Case("pci-iam-scoped-trust", ROLE, {"assumeRolePolicy": LAMBDA_TRUST}),
    Case(
        "pci-iam-scoped-trust",
        ROLE,
        {"assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})},
        "trust statement '?' lets any principal assume the role",
    ),
    # IAM: each branch of the rules above, statements named by Sid or '?'
    Case(
        "pci-iam-no-wildcard-actions",
        ROLE_POLICY,
        {"policy": doc({"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": ["arn:table"]})},
        "statement 'AllButIam' allows everything but NotAction",
        label="not-action",
    ),
    Case(
        "pci-iam-no-wildcard-actions",
        ROLE_POLICY,
        {"policy": doc({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:table"})},
        "statement '?' allows 'dynamodb:*'; name the actions",
        label="no-sid",
    ),
    Case(
        "pci-iam-scoped-resources",
        ROLE,
        {
            "assumeRolePolicy": LAMBDA_TRUST,
            "inlinePolicies": [{"name": "p", "policy": allow(["s3:GetObject"], ["*"], sid="Inline")}],
        },
        "statement 'Inline' grants ['s3:GetObject'] on every resource ('*')",
        label="inline",
    ),
    Case(
        "pci-iam-scoped-resources",
        ROLE_POLICY,
        {"policy": doc({"Effect": "Allow", "Action": ["s3:GetObject"], "NotResource": ["arn:aws:s3:::b/*"]})},
        "statement '?' grants ['s3:GetObject'] on every resource ('*')",
        label="not-resource",
    ),
    Case(
        "pci-iam-scoped-resources",
        ROLE_POLICY,
        {
            "policy": doc(
                {"Sid": "Scoped", "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": ["arn:table"]},
                {"Sid": "Loose", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["*"]},
            )
        },
        "statement 'Loose' grants ['sqs:SendMessage'] on every resource ('*')",
        label="loose-after-scoped",
    ),
    Case(
        "pci-iam-no-admin-policies",
        ROLE,
        {
            "assumeRolePolicy": LAMBDA_TRUST,
            "managedPolicyArns": [
                "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "arn:aws:iam::aws:policy/PowerUserAccess",
            ],
        },
        "arn:aws:iam::aws:policy/PowerUserAccess grants administrative rights",
        label="role-managed-arns",
    ),
    Case(
        "pci-iam-no-admin-policies",
        ATTACHMENT,
        {"policyArn": "arn:aws:iam::123456789012:policy/breakglass/IAMFullAccess"},
        "arn:aws:iam::123456789012:policy/breakglass/IAMFullAccess grants administrative rights",
        label="name-under-a-path",
    ),
    Case(
        "pci-iam-no-admin-policies",
        ATTACHMENT,
        {"policyArn": "AdministratorAccess"},
        "AdministratorAccess grants administrative rights",
        label="bare-name",
    ),
    Case(
        "pci-iam-scoped-trust",
        ROLE,
        {
            "assumeRolePolicy": doc(
                {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
            )
        },
        "trust statement 'Anyone' lets any principal assume the role",
        label="sid",
    ),
    # Logs, alarms, topics
    Case("pci-cloudwatch-log-group-cmk", LOG_GROUP, {"name": "/fraud/api", "kmsKeyId": "arn:key"}),
    Case(
        "pci-cloudwatch-log-group-cmk",
        LOG_GROUP,
        {"name": "/fraud/api"},
        "log group must be encrypted with a customer-managed KMS key (kmsKeyId)",
    ),
    Case("pci-cloudwatch-16-log-retention", LOG_GROUP, {"name": "/aws/lambda/fn", "retentionInDays": 7}),
    Case("pci-cloudwatch-16-log-retention", LOG_GROUP, {"name": "/fraud/audit", "retentionInDays": 400}, label="audit"),
    Case(
        "pci-cloudwatch-16-log-retention",
        LOG_GROUP,
        {"name": "/aws/lambda/fn"},
        "log group must set a retention period (retentionInDays)",
        label="never",
    ),
    Case(
        "pci-cloudwatch-16-log-retention",
        LOG_GROUP,
        {"name": "/aws/lambda/fn", "retentionInDays": 3},
        "log group keeps 3 days (< debugMinRetentionDays 7)",
        label="short-debug",
    ),
    Case(
        "pci-cloudwatch-16-log-retention",
        LOG_GROUP,
        {"name": "/fraud/audit", "retentionInDays": 30},
        "audit log group /fraud/audit keeps 30 days (< auditMinRetentionDays 365)",
        label="short-audit",
    ),
    Case(
        "pci-cloudwatch-16-log-retention",
        LOG_GROUP,
        {"name": "/fraud/audit", "retentionInDays": 90},
        config={"auditMinRetentionDays": 90},
        label="dev-audit",
    ),
    Case("pci-cloudwatch-17-alarm-actions", ALARM, {"actionsEnabled": True, "alarmActions": ["arn:topic"]}),
    Case(
        "pci-cloudwatch-17-alarm-actions",
        ALARM,
        {"actionsEnabled": False, "alarmActions": ["arn:topic"]},
        "alarm actions are disabled",
    ),
    Case(
        "pci-cloudwatch-17-alarm-actions",
        ALARM,
        {"alarmActions": []},
        "alarm notifies no one (alarmActions is empty)",
        label="no-actions",
    ),
    Case("pci-sns-1-topic-cmk", TOPIC, {"kmsMasterKeyId": "arn:key"}),
    Case(
        "pci-sns-1-topic-cmk",
        TOPIC,
        {"kmsMasterKeyId": "alias/aws/sns"},
        "topic must be encrypted with a customer-managed KMS key (kmsMasterKeyId)",
    ),
    Case(
        "pci-sns-no-public-policy",
        TOPIC_POLICY,
        {
            "policy": doc(
                {
                    "Sid": "Alarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "1"}},
                }
            )
        },
    ),
    Case(
        "pci-sns-no-public-policy",
        TOPIC_POLICY,
        {"policy": doc({"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish"})},
        "topic policy statement 'Anyone' allows any principal without a condition",
    ),
    Case(
        "pci-sns-no-public-policy",
        TOPIC,
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Subscribe"})},
        "topic policy statement '?' allows any principal without a condition",
        label="unnamed-statement",
    ),
    Case(
        "pci-cloudwatch-card-data-protection",
        DATA_PROTECTION,
        {"logGroupName": "/g", "policyDocument": protection(*CARD)},
    ),
    Case(
        "pci-cloudwatch-card-data-protection",
        DATA_PROTECTION,
        {"logGroupName": "/g", "policyDocument": protection("CreditCardNumber")},
        (
            "data protection policy does not audit ['CreditCardExpiration', 'CreditCardSecurityCode']",
            "data protection policy does not deidentify ['CreditCardExpiration', 'CreditCardSecurityCode']",
        ),
    ),
    Case(
        "pci-cloudwatch-card-data-protection",
        DATA_PROTECTION,
        {"logGroupName": "/g", "policyDocument": protection(*CARD, deidentify=False)},
        "data protection policy does not deidentify ['CreditCardExpiration', 'CreditCardNumber',"
        " 'CreditCardSecurityCode']",
        label="audit-only",
    ),
    Case(
        "pci-cloudwatch-card-data-protection",
        DATA_PROTECTION,
        {"logGroupName": "/g", "policyDocument": protection("CreditCardNumber")},
        config={"requiredIdentifiers": ["CreditCardNumber"]},
        label="config",
    ),
]


def _front_door(*protected: str) -> list[Any]:
    resources = [
        res(STAGE, "stage", stageName="v1", arn="arn:stage"),
        res(LB, "alb", loadBalancerType="application", internal=False, arn="arn:alb"),
        res(ACL, "acl", name="waf", arn="arn:acl"),
    ]
    resources += [res(ASSOCIATION, f"assoc-{arn}", resourceArn=arn, webAclArn="arn:acl") for arn in protected]
    return resources


STACK_CASES = [
    StackCase("pci-apigateway-4-waf", _front_door("arn:stage", "arn:alb")),
    StackCase("pci-apigateway-4-waf", _front_door("arn:alb"), "API stage v1 has no WAF web ACL"),
    StackCase("pci-elb-16-waf", _front_door("arn:stage", "arn:alb")),
    StackCase("pci-elb-16-waf", [res(LB, "internal", loadBalancerType="application", internal=True)], label="internal"),
    StackCase("pci-elb-16-waf", _front_door("arn:stage"), "internet-facing ALB alb has no WAF web ACL"),
    StackCase("pci-waf-11-logging", [res(ACL, "acl", arn="arn:acl"), res(ACL_LOGGING, "log", resourceArn="arn:acl")]),
    StackCase("pci-waf-11-logging", [res(ACL, "acl", arn="arn:acl")], "web ACL acl has no logging configuration"),
    StackCase(
        "pci-waf-11-logging",
        [res(ACL, "acl", name="fraud-waf", arn="arn:acl")],
        "web ACL fraud-waf has no logging configuration",
        label="named",
    ),
    StackCase(
        "pci-elb-16-waf",
        [res(LB, "alb", name="fraud-alb", loadBalancerType="application", internal=False)],
        "internet-facing ALB fraud-alb has no WAF web ACL",
        label="named",
    ),
    StackCase(
        "pci-cloudwatch-log-groups-protected",
        [res(LOG_GROUP, "lg", name="/g"), res(DATA_PROTECTION, "dp", logGroupName="/g", policyDocument="{}")],
    ),
    StackCase(
        "pci-cloudwatch-log-groups-protected",
        [res(LOG_GROUP, "lg", name="/g")],
        "log group /g has no card-data protection policy",
    ),
]
