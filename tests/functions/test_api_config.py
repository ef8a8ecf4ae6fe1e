"""fraud_common.api_config, fraud_common.env and the handlers' secret cache."""

from __future__ import annotations

import json

import pytest
from handler_support import CONFIG, PAN_HASH_KEY, SIGNING_KEY

from fraud_common import env
from fraud_common.api_config import initial_configuration, parse_api_configuration
from functions.common.api_config import ApiConfigCache, ConfigurationUnavailable


def test_parse_api_configuration_seeded_shape_is_accepted():
    config = parse_api_configuration(json.dumps(CONFIG))
    assert (config.review_threshold, config.decline_threshold) == (0.5, 0.85)
    assert config.pan_key() == (PAN_HASH_KEY.encode(), "1")
    assert config.pan_key_for("9") is None
    assert SIGNING_KEY not in repr(config) and PAN_HASH_KEY not in repr(config)


def test_parse_api_configuration_accepts_the_seed_value():
    # The value Pulumi and local mode seed must be one the handlers and the rotator accept.
    config = parse_api_configuration(initial_configuration("s" * 64, "p" * 64))
    assert config.pan_hash_key_version == "1" and config.review_threshold < config.decline_threshold


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"thresholds": {"review": 0.9, "decline": 0.5}}, "0 < review < decline <= 1"),
        ({"thresholds": {"review": 0, "decline": 0.5}}, "0 < review < decline <= 1"),
        ({"thresholds": {"review": 0.5, "decline": 1.5}}, "0 < review < decline <= 1"),
        ({"thresholds": {"review": "0.5", "decline": 0.9}}, "thresholds.review"),
        ({"thresholds": None}, "thresholds"),
        ({"signingKey": "short"}, "signingKey"),
        ({"panHashKeys": {"1": "short"}}, "panHashKeys['1']"),
        ({"panHashKeys": {}}, "panHashKeys"),
        ({"panHashKeyVersion": "2"}, "panHashKeyVersion '2'"),
    ],
)
def test_parse_api_configuration_names_the_bad_key(change, named):
    with pytest.raises(ValueError, match="invalid API configuration") as excinfo:
        parse_api_configuration(json.dumps({**CONFIG, **change}))
    assert named in str(excinfo.value)
    assert SIGNING_KEY not in str(excinfo.value) and PAN_HASH_KEY not in str(excinfo.value)


@pytest.mark.parametrize("text", ["not json", "[]", ""])
def test_parse_api_configuration_non_object_rejected(text):
    with pytest.raises(ValueError):
        parse_api_configuration(text)


def test_api_config_cache_refreshes_after_ttl_and_on_demand(aws, monkeypatch):
    # GIVEN a cache with a controllable clock and a 60 s TTL
    now = [1000.0]
    cache = ApiConfigCache(clock=lambda: now[0])
    monkeypatch.setenv(env.API_CONFIG_CACHE_SECONDS, "60")
    assert cache.get().review_threshold == 0.5
    rotated = {**CONFIG, "thresholds": {"review": 0.6, "decline": 0.9}}
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(rotated))
    # WHEN time passes within the TTL, beyond it, and a refresh is forced
    within = cache.get().review_threshold
    now[0] += 61
    after = cache.get().review_threshold
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString=json.dumps(CONFIG))
    forced = cache.get(force_refresh=True).review_threshold
    # THEN the cached value serves within the TTL, and the new value after it or when forced
    assert (within, after, forced) == (0.5, 0.6, 0.5)


def test_api_config_cache_invalid_secret_is_unavailable(aws):
    aws["secretsmanager"].put_secret_value(SecretId=aws["secret_arn"], SecretString='{"thresholds": 1}')
    with pytest.raises(ConfigurationUnavailable, match="thresholds"):
        ApiConfigCache().get()


def test_env_require_names_the_missing_variable(monkeypatch):
    monkeypatch.delenv(env.TABLE_NAME, raising=False)
    with pytest.raises(env.MissingEnvironment, match="TABLE_NAME"):
        env.require(env.TABLE_NAME)
    monkeypatch.setenv(env.API_CONFIG_CACHE_SECONDS, "soon")
    with pytest.raises(env.MissingEnvironment, match="API_CONFIG_CACHE_SECONDS"):
        env.optional_int(env.API_CONFIG_CACHE_SECONDS, 300)


def test_env_function_requirements_are_declared_names():
    declared = {value for name, value in vars(env).items() if name.isupper() and isinstance(value, str)}
    assert {name for names in env.FUNCTION_ENV.values() for name in names} <= declared
    assert set(env.FUNCTION_ENV) == {"processor", "analyzer", "reporter", "rotator", "labeler", "drift"}
