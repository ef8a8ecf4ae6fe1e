"""ApiLoadBalancer: the public ALB in front of fraud-api (a child of FraudApiService).

The ALB is public only because API Gateway's REST integrations reach HTTP backends over the
internet. It is not a second front door: the only rules that forward traffic require the
origin-verify header that API Gateway adds (its value lives in Secrets Manager), so a request that
skips the API's keys, throttling and WAF gets the fixed 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from components.context import AwsContext
from components.naming import Kind, Namer

ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
# ECS routes test traffic of a blue/green deployment to the new tasks through this header.
TEST_TRAFFIC_HEADER = "X-Fraud-Test-Traffic"
# TLS 1.3 and 1.2 only, forward secrecy (ELB.17, CKV_AWS_103).
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# tls.SelfSignedCert is replaced by the first `pulumi up` in its last 30 days; the certificate
# expiry alarm (alarms.py) fires at the same point, so no certificate lapses unnoticed.
EARLY_RENEWAL_DAYS = 30


@dataclass(frozen=True)
class ApiLoadBalancerArgs:
    ctx: AwsContext
    namer: Namer
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    service_security_group_id: pulumi.Input[str]
    container_port: int
    health_check_path: str
    origin_verify_value: pulumi.Input[str]
    access_log_bucket: pulumi.Input[str]
    access_log_bucket_policy: pulumi.Resource
    """The ALB checks at creation that it may write to the bucket: it waits for this policy."""
    access_log_prefix: str
    domain_name: str | None
    hosted_zone_id: str | None
    self_signed_cert_days: int
    """Lifetime of the self-signed certificate used without a domain."""


class ApiLoadBalancer(pulumi.ComponentResource):
    """HTTPS ALB with blue and green target groups, HTTP→HTTPS redirect, access logs."""

    def __init__(self, name: str, args: ApiLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:api:ApiLoadBalancer", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.security_group = self._create_security_group()
        self.load_balancer = self._create_load_balancer()
        self.certificate_arn = self._certificate()
        self.blue = self._create_target_group("blue")
        self.green = self._create_target_group("green")
        self.https_listener = self._create_https_listener()
        self.http_listener = self._redirect_http()
        self.production_rule = self._forward_rule("production", priority=100, test=False)
        self.test_rule = self._forward_rule("test", priority=10, test=True)

        self.dns_name: pulumi.Output[str] = self.load_balancer.dns_name
        self.arn: pulumi.Output[str] = self.load_balancer.arn
        self.arn_suffix: pulumi.Output[str] = self.load_balancer.arn_suffix
        self.register_outputs({"dns_name": self.dns_name, "arn": self.arn})

    def _create_security_group(self) -> aws.ec2.SecurityGroup:
        # Open to the internet on 443 (and 80, redirected): API Gateway calls from AWS public
        # addresses that no prefix list covers. The listener rules, not the network, restrict it.
        port = self._args.container_port
        return aws.ec2.SecurityGroup(
            f"{self._resource_name}-sg",
            name=self._args.namer.name(Kind.SECURITY_GROUP, "alb"),
            description="fraud-api ALB: HTTPS from API Gateway, HTTP redirected",
            vpc_id=self._args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(description="HTTPS", protocol="tcp", from_port=443, to_port=443,
                                                 cidr_blocks=["0.0.0.0/0"], ipv6_cidr_blocks=["::/0"]),
                aws.ec2.SecurityGroupIngressArgs(description="HTTP, redirected to HTTPS", protocol="tcp",
                                                 from_port=80, to_port=80, cidr_blocks=["0.0.0.0/0"],
                                                 ipv6_cidr_blocks=["::/0"]),
            ],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(description="fraud-api tasks", protocol="tcp", from_port=port,
                                                to_port=port, security_groups=[self._args.service_security_group_id]),
            ],
            opts=self._child,
        )  # fmt: skip

    def _create_load_balancer(self) -> aws.lb.LoadBalancer:
        return aws.lb.LoadBalancer(
            f"{self._resource_name}-alb",
            name=self._args.namer.name(Kind.LOAD_BALANCER, "fraud-api"),
            load_balancer_type="application",
            internal=False,
            subnets=self._args.public_subnet_ids,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=False,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=self._args.access_log_bucket, prefix=self._args.access_log_prefix, enabled=True
            ),
            # Enabling access logs fails ("Access Denied for bucket") until the bucket policy admits
            # the region's ELB account; the bucket name alone does not order the two.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._args.access_log_bucket_policy]),
        )

    def _certificate(self) -> pulumi.Output[str]:
        if self._args.domain_name and self._args.hosted_zone_id:
            return self._dns_validated_certificate(self._args.domain_name, self._args.hosted_zone_id)
        return self._self_signed_certificate()

    def _dns_validated_certificate(self, domain: str, zone_id: str) -> pulumi.Output[str]:
        certificate = aws.acm.Certificate(
            f"{self._resource_name}-certificate", domain_name=domain, validation_method="DNS", opts=self._child
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{self._resource_name}-certificate-validation-record",
            zone_id=zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=self._child,
        )
        aws.route53.Record(
            f"{self._resource_name}-alias",
            zone_id=zone_id,
            name=domain,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=self.load_balancer.dns_name, zone_id=self.load_balancer.zone_id,
                                                 evaluate_target_health=True)],
            opts=self._child,
        )  # fmt: skip
        validation = aws.acm.CertificateValidation(
            f"{self._resource_name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=self._child,
        )
        return validation.certificate_arn

    def _self_signed_certificate(self) -> pulumi.Output[str]:
        # Without a domain (dev): a self-signed certificate for the ALB's own DNS name, imported
        # into ACM. API Gateway checks the name, not the issuer (tls_config.insecure_skip_verification).
        key = tls.PrivateKey(f"{self._resource_name}-tls-key", algorithm="RSA", rsa_bits=2048, opts=self._child)
        cert = tls.SelfSignedCert(
            f"{self._resource_name}-tls-cert",
            private_key_pem=key.private_key_pem,
            dns_names=[f"*.{self._args.ctx.region}.elb.amazonaws.com"],
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"*.{self._args.ctx.region}.elb.amazonaws.com", organization="fraud-detection"
            ),
            validity_period_hours=24 * self._args.self_signed_cert_days,
            early_renewal_hours=24 * EARLY_RENEWAL_DAYS,
            allowed_uses=["key_encipherment", "digital_signature", "server_auth"],
            opts=self._child,
        )
        imported = aws.acm.Certificate(
            f"{self._resource_name}-certificate",
            private_key=key.private_key_pem,
            certificate_body=cert.cert_pem,
            opts=self._child,
        )
        return imported.arn

    def _create_target_group(self, colour: str) -> aws.lb.TargetGroup:
        # TLS ends at the ALB; ALB → task is plain HTTP inside the private network.
        return aws.lb.TargetGroup(
            f"{self._resource_name}-{colour}",
            name=self._args.namer.name(Kind.TARGET_GROUP, f"api-{colour}"),
            vpc_id=self._args.vpc_id,
            target_type="ip",
            protocol="HTTP",
            port=self._args.container_port,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(path=self._args.health_check_path, matcher="200",
                                                           interval=10, timeout=5, healthy_threshold=2,
                                                           unhealthy_threshold=3),
            opts=self._child,
        )  # fmt: skip

    def _create_https_listener(self) -> aws.lb.Listener:
        return aws.lb.Listener(
            f"{self._resource_name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=SSL_POLICY,
            certificate_arn=self.certificate_arn,
            routing_http_response_strict_transport_security_header_value="max-age=31536000; includeSubDomains",
            routing_http_response_x_content_type_options_header_value="nosniff",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="fixed-response",
                    fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                        content_type="application/json", status_code="404", message_body='{"error": "not_found"}'
                    ),
                )
            ],
            opts=self._child,
        )  # fmt: skip

    def _redirect_http(self) -> aws.lb.Listener:
        return aws.lb.Listener(
            f"{self._resource_name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            opts=self._child,
        )

    def _forward_rule(self, role: str, *, priority: int, test: bool) -> aws.lb.ListenerRule:
        def header(name: str, value: pulumi.Input[str]) -> aws.lb.ListenerRuleConditionArgs:
            return aws.lb.ListenerRuleConditionArgs(
                http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(http_header_name=name, values=[value])
            )

        conditions = [
            aws.lb.ListenerRuleConditionArgs(
                path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/api/*"])
            ),
            header(ORIGIN_VERIFY_HEADER, self._args.origin_verify_value),
        ]
        if test:
            conditions.append(header(TEST_TRAFFIC_HEADER, "true"))
        return aws.lb.ListenerRule(
            f"{self._resource_name}-{role}-rule",
            listener_arn=self.https_listener.arn,
            priority=priority,
            conditions=conditions,
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=self.blue.arn)],
            # ECS rewrites the forward action into weighted target groups on every deployment;
            # owning it here would show as drift and fight the deployment.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["actions"]),
        )
