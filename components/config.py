"""Typed, validated stack configuration.

Everything that differs between stacks lives in `Pulumi.<stack>.yaml`; this module reads it once
into frozen dataclasses and validates every value before the program declares a resource. All
problems are collected and reported together, each naming the key, the value and what is allowed,
so an operator fixes a stack file in one pass.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pulumi

from components.config_values import (
    FARGATE_SIZES,
    ISO_3166_ALPHA2,
    LOG_RETENTION_DAYS,
    ConfigError,
    Reader,
)
from fraud_common import env

PROJECT = "fraud-detection"

# The longest suffix every derived physical name still fits (the tightest limit is the
# 32-character ALB target group name, see naming.py).
MAX_SUFFIX_LENGTH = 12

NatStrategy = Literal["single", "one-per-az"]
NAT_STRATEGIES: tuple[NatStrategy, ...] = ("single", "one-per-az")

_SUFFIX_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINT_WINDOW_RE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)
# A prebuilt image must be pinned by digest and live in a private ECR registry: the only registries
# the tasks reach in every stack (prod's tasks have no route to the internet, only the ECR endpoints).
ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)(?::[\w][\w.-]{0,127})?@sha256:[0-9a-f]{64}$"
)
_DB_USER_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# A major version only: RDS applies minor upgrades itself (automatic minor upgrades are on), and a
# pinned minor would make the next `pulumi up --refresh` try a downgrade, which RDS refuses.
_ENGINE_VERSION_RE = re.compile(r"^16$")
_SCHEDULE_RE = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
# Usernames RDS reserves or that every scanner tries first (RDS.24 wants a custom one).
_RESERVED_DB_USERS = frozenset({"postgres", "admin", "root", "rdsadmin", "master", "administrator", "user"})


@dataclass(frozen=True)
class NetworkConfig:
    cidr: str
    nat_strategy: NatStrategy
    interface_endpoints: bool
    flow_log_transition_days: int
    flow_log_expiration_days: int


@dataclass(frozen=True)
class DatabaseConfig:
    engine_version: str
    instance_count: int
    min_acu: float
    max_acu: float
    backup_retention_days: int
    backup_window: str
    maintenance_window: str
    master_username: str
    database_name: str


@dataclass(frozen=True)
class PipelineConfig:
    lambda_timeout_seconds: int
    lambda_memory_mb: int
    reserved_concurrency: int
    stream_batch_size: int
    stream_batching_window_seconds: int
    stream_max_retries: int
    stream_max_record_age_seconds: int
    report_schedule: str
    report_retention_days: int


@dataclass(frozen=True)
class ApiConfig:
    image: str | None
    """A prebuilt fraud-api image (private ECR of this region, by digest); None: the stack builds it."""
    cpu: int
    memory: int
    min_tasks: int
    max_tasks: int
    peak_min_tasks: int
    peak_start_hour_utc: int
    peak_end_hour_utc: int
    domain_name: str | None
    hosted_zone_id: str | None
    rate_limit: int
    burst_limit: int
    create_service_linked_roles: bool
    # API Gateway's CloudWatch role is one setting per account and region: one stack owns it.
    manage_api_gateway_account: bool
    self_signed_cert_days: int


@dataclass(frozen=True)
class WafConfig:
    # Requests without an API key, per client address per 5 minutes (wafRateLimitPerIp); the
    # limits for keyed traffic derive from the usage plan (waf.py).
    keyless_rate_limit_per_ip: int
    blocked_countries: tuple[str, ...]


@dataclass(frozen=True)
class ObservabilityConfig:
    log_retention_days: int
    audit_retention_days: int
    alarm_email: str | None
    api_p99_threshold_ms: int


@dataclass(frozen=True)
class TagsConfig:
    environment: str
    cost_center: str
    project: str = PROJECT
    managed_by: str = "pulumi"

    def as_dict(self) -> dict[str, str]:
        return {
            "Environment": self.environment,
            "CostCenter": self.cost_center,
            "Project": self.project,
            "ManagedBy": self.managed_by,
        }


@dataclass(frozen=True)
class JobsConfig:
    export_schedule: str
    """EventBridge Scheduler expression of the daily training export (UTC)."""
    retrain_schedule: str
    """EventBridge Scheduler expression of retraining (UTC); weekly by default."""
    cpu: int
    """Fargate CPU units of both job tasks."""
    memory: int
    """Fargate memory (MiB) of both job tasks: retraining's peak sets it (README "Retraining on a schedule")."""


@dataclass(frozen=True)
class StackConfig:
    region: str
    environment_suffix: str
    network: NetworkConfig
    database: DatabaseConfig
    pipeline: PipelineConfig
    api: ApiConfig
    waf: WafConfig
    observability: ObservabilityConfig
    jobs: JobsConfig
    tags: TagsConfig


def _read_network(r: Reader) -> NetworkConfig:
    cidr = r.string("vpcCidr")
    try:
        net = ipaddress.ip_network(cidr, strict=True)
        valid = isinstance(net, ipaddress.IPv4Network) and net.is_private and 16 <= net.prefixlen <= 20
    except ValueError:
        valid = False
    r.check(valid, "vpcCidr", cidr, "a private IPv4 network in CIDR notation with a prefix from /16 to /20")
    transition = r.integer("flowLogTransitionDays", 1, 3650)
    expiration = r.integer("flowLogExpirationDays", 1, 3650)
    # S3 refuses a lifecycle rule that expires objects before (or when) it transitions them.
    r.check(expiration > transition, "flowLogExpirationDays", expiration, "more days than flowLogTransitionDays")
    return NetworkConfig(
        cidr=cidr,
        nat_strategy=r.choice("natStrategy", NAT_STRATEGIES),
        interface_endpoints=r.boolean("interfaceEndpoints"),
        flow_log_transition_days=transition,
        flow_log_expiration_days=expiration,
    )


def _read_database(r: Reader) -> DatabaseConfig:
    min_acu = r.number("dbMinAcu")
    max_acu = r.number("dbMaxAcu")
    for key, acu in (("dbMinAcu", min_acu), ("dbMaxAcu", max_acu)):
        r.check(0.5 <= acu <= 256 and (acu * 2).is_integer(), key, acu, "0.5 to 256 ACU in steps of 0.5")
    r.check(min_acu <= max_acu, "dbMinAcu", min_acu, f"at most dbMaxAcu ({max_acu})")
    username = r.string("dbMasterUsername", pattern=_DB_USER_RE, allowed="a lowercase identifier")
    r.check(username not in _RESERVED_DB_USERS, "dbMasterUsername", username, "a custom name (not a default one)")
    return DatabaseConfig(
        engine_version=r.string(
            "dbEngineVersion",
            pattern=_ENGINE_VERSION_RE,
            allowed="an aurora-postgresql major version, 16 (no minor: RDS applies minor upgrades itself)",
        ),
        instance_count=r.integer("dbInstanceCount", 1, 15),
        min_acu=min_acu,
        max_acu=max_acu,
        backup_retention_days=r.integer("dbBackupRetentionDays", 1, 35),
        backup_window=r.string("dbBackupWindow", pattern=_WINDOW_RE, allowed="hh:mm-hh:mm (UTC)"),
        maintenance_window=r.string(
            "dbMaintenanceWindow", pattern=_MAINT_WINDOW_RE, allowed="ddd:hh:mm-ddd:hh:mm (UTC)"
        ),
        master_username=username,
        database_name=r.string("dbName", pattern=_DB_USER_RE, allowed="a lowercase identifier"),
    )


# FraudPipeline gives these functions (processor, analyzer, reporter, rotator) the same reserved concurrency.
RESERVING_FUNCTIONS = len(env.RESERVING_FUNCTIONS)
# "You can reserve up to the Unreserved account concurrency value that is shown, minus 100 for functions
# that don't have reserved concurrency" (AWS Lambda developer guide, configuration-concurrency.html):
# PutFunctionConcurrency fails when it would leave less than 100 unreserved.
UNRESERVED_CONCURRENCY_MINIMUM = 100


def _read_pipeline(r: Reader) -> PipelineConfig:
    floor = r.integer("lambdaMinReservedConcurrency", 1, 10000)
    reserved = r.integer("lambdaReservedConcurrency", 1, 10000)
    r.check(
        reserved >= floor, "lambdaReservedConcurrency", reserved, f"at least lambdaMinReservedConcurrency ({floor})"
    )
    # The account's regional quota of concurrent executions: 1,000 by default, raised on request.
    quota = r.integer("lambdaAccountConcurrencyQuota", 1, 1_000_000)
    total, limit = RESERVING_FUNCTIONS * reserved, quota - UNRESERVED_CONCURRENCY_MINIMUM
    r.check(
        total <= limit,
        "lambdaReservedConcurrency",
        reserved,
        f"a value whose total over the {RESERVING_FUNCTIONS} functions ({RESERVING_FUNCTIONS} x {reserved} = {total})"
        f" is at most lambdaAccountConcurrencyQuota ({quota}) minus the {UNRESERVED_CONCURRENCY_MINIMUM} AWS keeps"
        f" unreserved = {limit}; lower lambdaReservedConcurrency, or raise the account quota and set"
        " lambdaAccountConcurrencyQuota",
    )
    timeout = r.integer("lambdaTimeoutSeconds", 1, 300)
    return PipelineConfig(
        lambda_timeout_seconds=timeout,
        lambda_memory_mb=r.integer("lambdaMemoryMb", 128, 10240),
        reserved_concurrency=reserved,
        stream_batch_size=r.integer("streamBatchSize", 1, 10000),
        stream_batching_window_seconds=r.integer("streamBatchingWindowSeconds", 0, 300),
        stream_max_retries=r.integer("streamMaxRetries", 0, 10000),
        stream_max_record_age_seconds=r.integer("streamMaxRecordAgeSeconds", 60, 604800),
        report_schedule=r.string("reportSchedule", pattern=_SCHEDULE_RE, allowed="an EventBridge cron() or rate()"),
        report_retention_days=r.integer("reportRetentionDays", 1, 3650),
    )


def _fargate_size(r: Reader, cpu_key: str, memory_key: str) -> tuple[int, int]:
    cpu = r.integer(cpu_key, 256, 16384)
    memory = r.integer(memory_key, 512, 122880)
    r.check(
        memory in FARGATE_SIZES.get(cpu, ()),
        memory_key,
        f"cpu={cpu}, memory={memory}",
        "a Fargate cpu/memory pair: " + "; ".join(f"cpu {c}: {m[0]}-{m[-1]} MiB" for c, m in FARGATE_SIZES.items()),
    )
    return cpu, memory


def _read_api(r: Reader, region: str) -> ApiConfig:
    cpu, memory = _fargate_size(r, "apiCpu", "apiMemory")
    min_tasks = r.integer("apiMinTasks", 1, 100)
    max_tasks = r.integer("apiMaxTasks", 1, 100)
    peak_min = r.integer("apiPeakMinTasks", 1, 100)
    r.check(min_tasks <= peak_min <= max_tasks, "apiPeakMinTasks", peak_min, "between apiMinTasks and apiMaxTasks")
    r.check(min_tasks <= max_tasks, "apiMinTasks", min_tasks, f"at most apiMaxTasks ({max_tasks})")
    start = r.integer("apiPeakStartHourUtc", 0, 23)
    end = r.integer("apiPeakEndHourUtc", 0, 23)
    r.check(start != end, "apiPeakEndHourUtc", end, "an hour different from apiPeakStartHourUtc")
    domain = r.optional_string(
        "apiDomainName", pattern=re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,}$"), allowed="a DNS name"
    )
    zone = r.optional_string("apiHostedZoneId", pattern=re.compile(r"^Z[A-Z0-9]{1,31}$"), allowed="a Route 53 zone id")
    r.check((domain is None) == (zone is None), "apiHostedZoneId", zone, "set together with apiDomainName")
    rate = r.integer("apiRateLimit", 1, 10000)
    burst = r.integer("apiBurstLimit", 1, 5000)
    r.check(burst >= rate or burst == 5000, "apiBurstLimit", burst, f"at least apiRateLimit ({rate})")
    image = r.optional_string(
        "apiImage",
        pattern=ECR_IMAGE_RE,
        allowed="empty (build it) or <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]@sha256:<digest>",
    )
    image_match = ECR_IMAGE_RE.match(image or "")
    r.check(
        image_match is None or image_match["region"] == region,
        "apiImage",
        image,
        f"an image in this stack's region ({region})",
    )
    return ApiConfig(
        image=image,
        cpu=cpu,
        memory=memory,
        min_tasks=min_tasks,
        max_tasks=max_tasks,
        peak_min_tasks=peak_min,
        peak_start_hour_utc=start,
        peak_end_hour_utc=end,
        domain_name=domain,
        hosted_zone_id=zone,
        rate_limit=rate,
        burst_limit=burst,
        create_service_linked_roles=r.boolean("createServiceLinkedRoles"),
        manage_api_gateway_account=r.boolean("manageApiGatewayAccount"),
        # Lifetime of the ALB's self-signed certificate (no apiDomainName); alarmed 30 days before expiry.
        self_signed_cert_days=r.integer("apiSelfSignedCertDays", 60, 825),
    )


def _read_waf(r: Reader) -> WafConfig:
    countries = r.string_list("wafBlockedCountries")
    bad = [c for c in countries if c not in ISO_3166_ALPHA2]
    r.check(not bad, "wafBlockedCountries", bad, "ISO 3166-1 alpha-2 country codes such as KP or IR")
    r.check(len(set(countries)) == len(countries), "wafBlockedCountries", list(countries), "each country once")
    return WafConfig(
        keyless_rate_limit_per_ip=r.integer("wafRateLimitPerIp", 10, 2_000_000_000),
        blocked_countries=countries,
    )


def _read_observability(r: Reader) -> ObservabilityConfig:
    retention = r.integer("logRetentionDays", 1, 3653, choices=LOG_RETENTION_DAYS)
    # PCI DSS 10.5.1: at least three months of audit history immediately available.
    audit = r.integer("auditRetentionDays", 90, 3653)
    return ObservabilityConfig(
        log_retention_days=retention,
        audit_retention_days=audit,
        alarm_email=r.optional_string("alarmEmail", pattern=_EMAIL_RE, allowed="an e-mail address"),
        api_p99_threshold_ms=r.integer("apiP99ThresholdMs", 10, 10000),
    )


def _read_jobs(r: Reader) -> JobsConfig:
    allowed = "an EventBridge Scheduler cron() or rate() expression (UTC), e.g. cron(0 3 ? * SUN *)"
    cpu, memory = _fargate_size(r, "jobsCpu", "jobsMemory")
    return JobsConfig(
        export_schedule=r.string("exportSchedule", pattern=_SCHEDULE_RE, allowed=allowed),
        retrain_schedule=r.string("retrainSchedule", pattern=_SCHEDULE_RE, allowed=allowed),
        cpu=cpu,
        memory=memory,
    )


def read_stack_config(get: Callable[[str], str | None], get_aws: Callable[[str], str | None]) -> StackConfig:
    """Build and validate the StackConfig from raw string getters (project and `aws` namespaces).

    Raises ConfigError listing every problem; nothing is declared before this returns.
    """
    r = Reader(get, PROJECT)
    aws_reader = Reader(get_aws, "aws")
    region = aws_reader.string("region", pattern=_REGION_RE, allowed="an AWS region such as eu-west-1")
    suffix = r.string(
        "environmentSuffix",
        pattern=_SUFFIX_RE,
        allowed="lowercase letters, digits and single hyphens, starting with a letter",
    )
    r.check(len(suffix) <= MAX_SUFFIX_LENGTH, "environmentSuffix", suffix, f"at most {MAX_SUFFIX_LENGTH} characters")
    config = StackConfig(
        region=region,
        environment_suffix=suffix,
        network=_read_network(r),
        database=_read_database(r),
        pipeline=_read_pipeline(r),
        api=_read_api(r, region),
        waf=_read_waf(r),
        observability=_read_observability(r),
        jobs=_read_jobs(r),
        tags=TagsConfig(
            environment=suffix,
            cost_center=r.string("costCenter", pattern=re.compile(r"^[\w .:/=+@-]{1,256}$"), allowed="a tag value"),
        ),
    )
    problems = aws_reader.problems + r.problems
    if problems:
        raise ConfigError(problems)
    return config


def load_stack_config() -> StackConfig:
    """Read the current stack's configuration from Pulumi."""
    project, aws = pulumi.Config(PROJECT), pulumi.Config("aws")
    return read_stack_config(project.get, aws.get)
