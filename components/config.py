"""Typed, validated stack configuration.

Everything that differs between stacks lives in `Pulumi.<stack>.yaml`; this module reads it once
into frozen dataclasses and validates every value before the program declares a resource. All
problems are collected and reported together, each naming the key, the value and what is allowed,
so an operator fixes a stack file in one pass.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import pulumi

from fraud_common import stream

PROJECT = "fraud-detection"

# The longest suffix every derived physical name still fits (the tightest limit is the
# 32-character ALB target group name, see naming.py).
MAX_SUFFIX_LENGTH = 12

NatStrategy = Literal["single", "one-per-az"]
NAT_STRATEGIES: tuple[NatStrategy, ...] = ("single", "one-per-az")

# CloudWatch Logs accepts only these retention periods (days). "Never expire" is deliberately absent.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Fargate task sizes: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

ISO_3166_ALPHA2 = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
    BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO
    FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM
    JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT
    TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)

_SUFFIX_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_MAINT_WINDOW_RE = re.compile(
    r"^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$"
)
_DB_USER_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ENGINE_VERSION_RE = re.compile(r"^16\.\d+$")
_SCHEDULE_RE = re.compile(r"^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
# Usernames RDS reserves or that every scanner tries first (RDS.24 wants a custom one).
_RESERVED_DB_USERS = frozenset({"postgres", "admin", "root", "rdsadmin", "master", "administrator", "user"})


class ConfigError(pulumi.RunError):
    """Stack configuration is missing or malformed. RunError: Pulumi prints the message without a traceback."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


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
    powertools_layer_version: int


@dataclass(frozen=True)
class ApiConfig:
    image: str
    build_image: bool
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


@dataclass(frozen=True)
class WafConfig:
    rate_limit_per_ip: int
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
class StackConfig:
    region: str
    environment_suffix: str
    network: NetworkConfig
    database: DatabaseConfig
    pipeline: PipelineConfig
    api: ApiConfig
    waf: WafConfig
    observability: ObservabilityConfig
    tags: TagsConfig


T = TypeVar("T")


class _Reader:
    """Reads raw string values by key, records every problem instead of stopping at the first."""

    def __init__(self, get: Callable[[str], str | None], namespace: str) -> None:
        self._get = get
        self._namespace = namespace
        self.problems: list[str] = []
        self._failed: set[str] = set()

    def _fail(self, key: str, raw: object, allowed: str) -> None:
        # One problem per key: the first one names what is allowed; later checks would only echo it.
        if key not in self._failed:
            self._failed.add(key)
            self.problems.append(f"{self._namespace}:{key} = {raw!r} is invalid: allowed {allowed}")

    def _raw(self, key: str) -> str | None:
        value = self._get(key)
        return None if value is None or value == "" else value

    def string(
        self, key: str, default: str | None, *, pattern: re.Pattern[str] | None = None, allowed: str = "a string"
    ) -> str:
        raw = self._raw(key)
        if raw is None:
            if default is None:
                self.problems.append(f"{self._namespace}:{key} is required: {allowed}")
                return ""
            return default
        if pattern is not None and not pattern.match(raw):
            self._fail(key, raw, allowed)
        return raw

    def optional_string(self, key: str, *, pattern: re.Pattern[str], allowed: str) -> str | None:
        raw = self._raw(key)
        if raw is not None and not pattern.match(raw):
            self._fail(key, raw, allowed)
        return raw

    def choice(self, key: str, default: T, choices: Sequence[T]) -> T:
        raw = self._raw(key)
        if raw is None:
            return default
        for choice in choices:
            if raw == choice:
                return choice
        self._fail(key, raw, "one of " + ", ".join(str(c) for c in choices))
        return default

    def integer(self, key: str, default: int, lo: int, hi: int, *, choices: Sequence[int] = ()) -> int:
        raw = self._raw(key)
        if raw is None:
            return default
        allowed = f"one of {', '.join(map(str, choices))}" if choices else f"a whole number from {lo} to {hi}"
        try:
            value = int(raw)
        except ValueError:
            self._fail(key, raw, allowed)
            return default
        if not lo <= value <= hi or (choices and value not in choices):
            self._fail(key, raw, allowed)
        return value

    def number(self, key: str, default: float) -> float:
        raw = self._raw(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            self._fail(key, raw, "a number")
            return default

    def boolean(self, key: str, default: bool) -> bool:
        raw = self._raw(key)
        if raw is None:
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self._fail(key, raw, "true or false")
        return default

    def string_list(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        raw = self._raw(key)
        if raw is None:
            return tuple(default)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._fail(key, raw, "a list of strings")
            return tuple(default)
        return tuple(value)

    def check(self, ok: bool, key: str, raw: object, allowed: str) -> None:
        if not ok:
            self._fail(key, raw, allowed)


def _read_network(r: _Reader) -> NetworkConfig:
    cidr = r.string("vpcCidr", "10.0.0.0/16")
    try:
        net = ipaddress.ip_network(cidr, strict=True)
        valid = isinstance(net, ipaddress.IPv4Network) and net.is_private and 16 <= net.prefixlen <= 20
    except ValueError:
        valid = False
    r.check(valid, "vpcCidr", cidr, "a private IPv4 network in CIDR notation with a prefix from /16 to /20")
    transition = r.integer("flowLogTransitionDays", 30, 1, 3650)
    expiration = r.integer("flowLogExpirationDays", 365, 1, 3650)
    # S3 refuses a lifecycle rule that expires objects before (or when) it transitions them.
    r.check(expiration > transition, "flowLogExpirationDays", expiration, "more days than flowLogTransitionDays")
    return NetworkConfig(
        cidr=cidr,
        nat_strategy=r.choice("natStrategy", "single", NAT_STRATEGIES),
        interface_endpoints=r.boolean("interfaceEndpoints", False),
        flow_log_transition_days=transition,
        flow_log_expiration_days=expiration,
    )


def _read_database(r: _Reader) -> DatabaseConfig:
    min_acu = r.number("dbMinAcu", 0.5)
    max_acu = r.number("dbMaxAcu", 4.0)
    for key, acu in (("dbMinAcu", min_acu), ("dbMaxAcu", max_acu)):
        r.check(0.5 <= acu <= 256 and (acu * 2).is_integer(), key, acu, "0.5 to 256 ACU in steps of 0.5")
    r.check(min_acu <= max_acu, "dbMinAcu", min_acu, f"at most dbMaxAcu ({max_acu})")
    username = r.string("dbMasterUsername", "fraudadmin", pattern=_DB_USER_RE, allowed="a lowercase identifier")
    r.check(username not in _RESERVED_DB_USERS, "dbMasterUsername", username, "a custom name (not a default one)")
    return DatabaseConfig(
        engine_version=r.string(
            "dbEngineVersion", "16.6", pattern=_ENGINE_VERSION_RE, allowed="an aurora-postgresql 16.x version"
        ),
        instance_count=r.integer("dbInstanceCount", 1, 1, 15),
        min_acu=min_acu,
        max_acu=max_acu,
        backup_retention_days=r.integer("dbBackupRetentionDays", 7, 1, 35),
        backup_window=r.string("dbBackupWindow", "03:00-04:00", pattern=_WINDOW_RE, allowed="hh:mm-hh:mm (UTC)"),
        maintenance_window=r.string(
            "dbMaintenanceWindow", "sun:04:30-sun:05:30", pattern=_MAINT_WINDOW_RE, allowed="ddd:hh:mm-ddd:hh:mm (UTC)"
        ),
        master_username=username,
        database_name=r.string("dbName", "fraud", pattern=_DB_USER_RE, allowed="a lowercase identifier"),
    )


def _read_pipeline(r: _Reader) -> PipelineConfig:
    floor = r.integer("lambdaMinReservedConcurrency", 100, 1, 10000)
    reserved = r.integer("lambdaReservedConcurrency", 100, 1, 10000)
    r.check(
        reserved >= floor, "lambdaReservedConcurrency", reserved, f"at least lambdaMinReservedConcurrency ({floor})"
    )
    timeout = r.integer("lambdaTimeoutSeconds", 30, 1, 300)
    return PipelineConfig(
        lambda_timeout_seconds=timeout,
        lambda_memory_mb=r.integer("lambdaMemoryMb", 512, 128, 10240),
        reserved_concurrency=reserved,
        stream_batch_size=r.integer("streamBatchSize", stream.DEFAULT_BATCH_SIZE, 1, 10000),
        stream_batching_window_seconds=r.integer(
            "streamBatchingWindowSeconds", stream.DEFAULT_BATCHING_WINDOW_SECONDS, 0, 300
        ),
        stream_max_retries=r.integer("streamMaxRetries", stream.DEFAULT_MAX_RETRIES, 0, 10000),
        stream_max_record_age_seconds=r.integer(
            "streamMaxRecordAgeSeconds", stream.DEFAULT_MAX_RECORD_AGE_SECONDS, 60, 604800
        ),
        report_schedule=r.string(
            "reportSchedule", "cron(15 0 * * ? *)", pattern=_SCHEDULE_RE, allowed="an EventBridge cron() or rate()"
        ),
        report_retention_days=r.integer("reportRetentionDays", 365, 1, 3650),
        powertools_layer_version=r.integer("lambdaPowertoolsLayerVersion", 27, 1, 1000),
    )


def _read_api(r: _Reader) -> ApiConfig:
    cpu = r.integer("apiCpu", 1024, 256, 16384)
    memory = r.integer("apiMemory", 2048, 512, 122880)
    r.check(
        memory in FARGATE_SIZES.get(cpu, ()),
        "apiMemory",
        f"cpu={cpu}, memory={memory}",
        "a Fargate cpu/memory pair: " + "; ".join(f"cpu {c}: {m[0]}-{m[-1]} MiB" for c, m in FARGATE_SIZES.items()),
    )
    min_tasks = r.integer("apiMinTasks", 2, 1, 100)
    max_tasks = r.integer("apiMaxTasks", 6, 1, 100)
    peak_min = r.integer("apiPeakMinTasks", min_tasks, 1, 100)
    r.check(min_tasks <= peak_min <= max_tasks, "apiPeakMinTasks", peak_min, "between apiMinTasks and apiMaxTasks")
    r.check(min_tasks <= max_tasks, "apiMinTasks", min_tasks, f"at most apiMaxTasks ({max_tasks})")
    start = r.integer("apiPeakStartHourUtc", 12, 0, 23)
    end = r.integer("apiPeakEndHourUtc", 22, 0, 23)
    r.check(start != end, "apiPeakEndHourUtc", end, "an hour different from apiPeakStartHourUtc")
    domain = r.optional_string(
        "apiDomainName", pattern=re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,}$"), allowed="a DNS name"
    )
    zone = r.optional_string("apiHostedZoneId", pattern=re.compile(r"^Z[A-Z0-9]{1,31}$"), allowed="a Route 53 zone id")
    r.check((domain is None) == (zone is None), "apiHostedZoneId", zone, "set together with apiDomainName")
    rate = r.integer("apiRateLimit", 1000, 1, 10000)
    burst = r.integer("apiBurstLimit", 2000, 1, 5000)
    r.check(burst >= rate or burst == 5000, "apiBurstLimit", burst, f"at least apiRateLimit ({rate})")
    return ApiConfig(
        image=r.string("apiImage", "fraud-api:latest"),
        build_image=r.boolean("apiBuildImage", False),
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
        create_service_linked_roles=r.boolean("createServiceLinkedRoles", False),
    )


def _read_waf(r: _Reader) -> WafConfig:
    countries = r.string_list("wafBlockedCountries", ())
    bad = [c for c in countries if c not in ISO_3166_ALPHA2]
    r.check(not bad, "wafBlockedCountries", bad, "ISO 3166-1 alpha-2 country codes such as KP or IR")
    r.check(len(set(countries)) == len(countries), "wafBlockedCountries", list(countries), "each country once")
    return WafConfig(
        rate_limit_per_ip=r.integer("wafRateLimitPerIp", 2000, 10, 2_000_000_000),
        blocked_countries=countries,
    )


def _read_observability(r: _Reader) -> ObservabilityConfig:
    retention = r.integer("logRetentionDays", 7, 1, 3653, choices=LOG_RETENTION_DAYS)
    # PCI DSS 10.5.1: at least three months of audit history immediately available.
    audit = r.integer("auditRetentionDays", 400, 90, 3653)
    return ObservabilityConfig(
        log_retention_days=retention,
        audit_retention_days=audit,
        alarm_email=r.optional_string("alarmEmail", pattern=_EMAIL_RE, allowed="an e-mail address"),
        api_p99_threshold_ms=r.integer("apiP99ThresholdMs", 200, 10, 10000),
    )


def read_stack_config(get: Callable[[str], str | None], get_aws: Callable[[str], str | None]) -> StackConfig:
    """Build and validate the StackConfig from raw string getters (project and `aws` namespaces).

    Raises ConfigError listing every problem; nothing is declared before this returns.
    """
    r = _Reader(get, PROJECT)
    aws_reader = _Reader(get_aws, "aws")
    region = aws_reader.string("region", None, pattern=_REGION_RE, allowed="an AWS region such as eu-west-1")
    suffix = r.string(
        "environmentSuffix",
        None,
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
        api=_read_api(r),
        waf=_read_waf(r),
        observability=_read_observability(r),
        tags=TagsConfig(
            environment=suffix,
            cost_center=r.string(
                "costCenter", "fraud-platform", pattern=re.compile(r"^[\w .:/=+@-]{1,256}$"), allowed="a tag value"
            ),
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
