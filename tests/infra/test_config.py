"""Stack configuration: one test per validation rule, plus the whole program refusing bad config."""

from __future__ import annotations

import pytest

from components.config import ConfigError, StackConfig, read_stack_config
from components.stack_files import merge_stack_config, namespace
from tests.support.harness import ROOT, run_program, stack_config


def _read(**overrides: str | None) -> StackConfig:
    values = namespace(stack_config("dev"), "fraud-detection")
    region = overrides.pop("region", "us-east-2")
    aws = {} if region is None else {"region": region}
    for key, value in overrides.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return read_stack_config(values.get, aws.get)


def _problem(**overrides: str | None) -> str:
    with pytest.raises(ConfigError) as caught:
        _read(**overrides)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_config_dev_stack_file_reads_with_its_values() -> None:
    config = _read()
    assert config.environment_suffix == "dev"
    assert config.network.nat_strategy == "single"
    assert config.database.instance_count == 1
    assert config.observability.log_retention_days == 7
    assert config.waf.blocked_countries == ("KP",)
    assert config.tags.as_dict() == {
        "Environment": "dev",
        "CostCenter": "fraud-platform",
        "Project": "fraud-detection",
        "ManagedBy": "pulumi",
    }


def test_config_defaults_apply_when_keys_are_absent() -> None:
    # A stack file naming only the required keys gets Pulumi.yaml's defaults (applied by the CLI).
    merged, problems = merge_stack_config(
        "qa", {"fraud-detection:environmentSuffix": "qa", "aws:region": "eu-west-1"}, ROOT / "Pulumi.yaml"
    )
    assert problems == []
    project = namespace(merged, "fraud-detection")
    config = read_stack_config(project.get, {"region": "eu-west-1"}.get)
    assert config.api.cpu == 1024 and config.api.memory == 2048
    assert config.api.image is None, "empty apiImage: the stack builds the image"
    assert config.api.self_signed_cert_days == 365
    assert config.pipeline.reserved_concurrency == 100
    assert config.pipeline.lambda_timeout_seconds == 30
    assert (config.database.min_acu, config.database.max_acu) == (0.5, 4.0)


@pytest.mark.parametrize("suffix", ["Dev", "dev_1", "1dev", "dev-", "de--v", "dev!"])
def test_config_suffix_with_bad_characters_is_rejected(suffix: str) -> None:
    problem = _problem(environmentSuffix=suffix)
    assert "fraud-detection:environmentSuffix" in problem and repr(suffix) in problem
    assert "lowercase letters, digits and single hyphens" in problem


def test_config_suffix_too_long_for_derived_names_is_rejected() -> None:
    problem = _problem(environmentSuffix="a" * 13)
    assert "environmentSuffix" in problem and "at most 12 characters" in problem


def test_config_missing_suffix_is_reported_as_required() -> None:
    assert "fraud-detection:environmentSuffix is required" in _problem(environmentSuffix=None)


def test_config_missing_region_is_reported_as_required() -> None:
    with pytest.raises(ConfigError, match="aws:region is required"):
        _read(region=None)


@pytest.mark.parametrize("cidr", ["10.0.0.0/24", "10.0.0.0/8", "8.8.0.0/16", "10.0.0.1/16", "banana", "fd00::/16"])
def test_config_cidr_outside_private_16_to_20_is_rejected(cidr: str) -> None:
    problem = _problem(vpcCidr=cidr)
    assert "fraud-detection:vpcCidr" in problem and repr(cidr) in problem and "/16 to /20" in problem


def test_config_unknown_nat_strategy_is_rejected() -> None:
    problem = _problem(natStrategy="double")
    assert "fraud-detection:natStrategy = 'double'" in problem and "one of single, one-per-az" in problem


@pytest.mark.parametrize(("cpu", "memory"), [("1024", "1024"), ("256", "4096"), ("333", "2048")])
def test_config_invalid_fargate_size_is_rejected(cpu: str, memory: str) -> None:
    problem = _problem(apiCpu=cpu, apiMemory=memory)
    assert "fraud-detection:apiMemory" in problem and f"cpu={cpu}, memory={memory}" in problem
    assert "cpu 1024: 2048-8192 MiB" in problem


def test_config_valid_fargate_size_is_accepted() -> None:
    config = _read(apiCpu="2048", apiMemory="8192")
    assert (config.api.cpu, config.api.memory) == (2048, 8192)


@pytest.mark.parametrize("acu", ["0.75", "0", "300", "many"])
def test_config_acu_off_the_half_step_grid_is_rejected(acu: str) -> None:
    problem = _problem(dbMinAcu=acu)
    assert "fraud-detection:dbMinAcu" in problem


def test_config_min_acu_above_max_is_rejected() -> None:
    problem = _problem(dbMinAcu="8", dbMaxAcu="4")
    assert "fraud-detection:dbMinAcu = 8.0" in problem and "at most dbMaxAcu (4.0)" in problem


@pytest.mark.parametrize("timeout", ["0", "301", "thirty"])
def test_config_lambda_timeout_outside_1_to_300_is_rejected(timeout: str) -> None:
    problem = _problem(lambdaTimeoutSeconds=timeout)
    assert "fraud-detection:lambdaTimeoutSeconds" in problem and "from 1 to 300" in problem


def test_config_reserved_concurrency_below_floor_is_rejected() -> None:
    problem = _problem(lambdaReservedConcurrency="20")
    assert "fraud-detection:lambdaReservedConcurrency = '20'" not in problem
    assert "lambdaReservedConcurrency = 20" in problem and "at least lambdaMinReservedConcurrency (100)" in problem


def test_config_reserved_concurrency_floor_can_be_lowered_on_purpose() -> None:
    config = _read(lambdaReservedConcurrency="20", lambdaMinReservedConcurrency="10")
    assert config.pipeline.reserved_concurrency == 20


@pytest.mark.parametrize("days", ["0", "10", "366", "forever"])
def test_config_log_retention_not_allowed_by_cloudwatch_is_rejected(days: str) -> None:
    problem = _problem(logRetentionDays=days)
    assert "fraud-detection:logRetentionDays" in problem


def test_config_unknown_country_code_is_rejected() -> None:
    problem = _problem(wafBlockedCountries='["KP", "XX", "usa"]')
    assert "fraud-detection:wafBlockedCountries" in problem and "'XX'" in problem and "'usa'" in problem
    assert "ISO 3166-1 alpha-2" in problem


def test_config_country_list_that_is_not_a_list_is_rejected() -> None:
    assert "a list of strings" in _problem(wafBlockedCountries="KP")


@pytest.mark.parametrize("email", ["oncall", "on call@example.com", "oncall@example", "@example.com"])
def test_config_malformed_email_is_rejected(email: str) -> None:
    problem = _problem(alarmEmail=email)
    assert "fraud-detection:alarmEmail" in problem and repr(email) in problem and "an e-mail address" in problem


def test_config_default_database_username_is_rejected() -> None:
    assert "a custom name" in _problem(dbMasterUsername="postgres")


def test_config_audit_retention_under_three_months_is_rejected() -> None:
    assert "fraud-detection:auditRetentionDays" in _problem(auditRetentionDays="30")


def test_config_domain_without_hosted_zone_is_rejected() -> None:
    assert "set together with apiDomainName" in _problem(apiDomainName="fraud.example.com")


def test_config_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        _read(natStrategy="double", lambdaTimeoutSeconds="0", alarmEmail="nope")
    assert len(caught.value.problems) == 3
    assert "3 problem(s)" in str(caught.value)


def test_config_invalid_stack_declares_no_resource() -> None:
    # GIVEN the dev stack with one malformed value
    # WHEN the whole program runs
    run = run_program("dev", {"fraud-detection:natStrategy": "double"}, expect_failure=True)
    # THEN it stopped with the config error before declaring anything, the provider included
    assert isinstance(run.error, ConfigError)
    assert "fraud-detection:natStrategy = 'double'" in str(run.error)
    assert run.resources == []


def test_config_long_suffix_still_fits_every_name() -> None:
    run = run_program("prod", {"fraud-detection:environmentSuffix": "abcdefghijkl"})
    assert len(run.resources) > 60
    assert run.outputs["transactions_table_name"] == "transactions-abcdefghijkl"


@pytest.mark.parametrize("version", ["16.6", "16.x", "15", "17.1"])
def test_config_engine_version_with_a_minor_or_another_major_is_rejected(version: str) -> None:
    problem = _problem(dbEngineVersion=version)
    assert "fraud-detection:dbEngineVersion" in problem and repr(version) in problem
    assert "major version, 16" in problem


def test_config_engine_version_is_the_major_only_by_default() -> None:
    assert _read().database.engine_version == "16"
