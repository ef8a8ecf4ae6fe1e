"""FraudObservability: dashboard, alarms, alarm topic, X-Ray, log data protection; tracing elsewhere."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from fraud_api.app.core.logging import JsonFormatter
from fraud_scoring.registry import ModelWatcher, PointerValue, local_registry
from fraud_scoring.scorer import Scorer
from tests.support.api_app import amount_model_artifact
from tests.support.harness import ACCOUNT_ID, ProgramRun

FUNCTIONS = ("processor", "analyzer", "reporter", "rotator", "labeler", "drift")
VALID_MISSING_DATA = {"breaching", "notBreaching", "ignore", "missing"}
CARD_DATA_IDENTIFIERS = [
    f"arn:aws:dataprotection::aws:data-identifier/{name}"
    for name in ("CreditCardNumber", "CreditCardSecurityCode", "CreditCardExpiration")
]


def _dashboard(run: ProgramRun) -> dict:
    return json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])


def _metric_names(run: ProgramRun) -> set[tuple[str, str]]:
    names = set()
    for widget in _dashboard(run)["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            if isinstance(metric[0], str):
                names.add((metric[0], metric[1]))
    return names


def _alarms(run: ProgramRun) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_observability_dashboard_covers_every_hop(run: ProgramRun) -> None:
    dashboard = run.one("aws:cloudwatch/dashboard:Dashboard").inputs
    assert dashboard["dashboardName"] == f"dashboard-fraud-{run.suffix}"
    expected = {
        ("AWS/ApiGateway", "Latency"), ("AWS/ApiGateway", "4XXError"), ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApplicationELB", "TargetResponseTime"), ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ECS", "CPUUtilization"), ("AWS/ECS", "MemoryUtilization"),
        ("ECS/ContainerInsights", "RunningTaskCount"), ("ECS/ContainerInsights", "DesiredTaskCount"),
        ("AWS/RDS", "DatabaseConnections"), ("AWS/RDS", "ServerlessDatabaseCapacity"), ("AWS/RDS", "CPUUtilization"),
        ("AWS/Lambda", "Invocations"), ("AWS/Lambda", "Errors"), ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Duration"), ("AWS/Lambda", "ConcurrentExecutions"), ("AWS/Lambda", "IteratorAge"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/WAFV2", "BlockedRequests"),
    }  # fmt: skip
    assert expected <= _metric_names(run)


def test_observability_dashboard_shows_latency_percentiles_per_function_and_decisions(run: ProgramRun) -> None:
    widgets = {w["properties"].get("title"): w for w in _dashboard(run)["widgets"]}
    latency = widgets["API Gateway latency (ms)"]["properties"]["metrics"]
    assert [m[-1]["stat"] for m in latency] == ["p50", "p90", "p99"]
    errors = widgets["Lambda errors"]["properties"]["metrics"]
    assert [m[3] for m in errors] == [f"lambda-{fn}-{run.suffix}" for fn in FUNCTIONS]
    [[decisions]] = widgets["Fraud decisions per minute by outcome"]["properties"]["metrics"]
    assert 'MetricName="Decisions"' in decisions["expression"]
    [[refused]] = widgets["fraud-api requests refused per minute by reason"]["properties"]["metrics"]
    assert refused["expression"] == "SEARCH('Namespace=\"FraudDetection\" MetricName=\"Refused\"', 'Sum', 60)"
    alarms = next(w for w in _dashboard(run)["widgets"] if w["type"] == "alarm")
    assert len(alarms["properties"]["alarms"]) == len(_alarms(run))


def test_observability_alarms_cover_latency_errors_capacity_and_backlog(run: ProgramRun) -> None:
    suffix = run.suffix
    expected = {
        "api-latency-p99", "alb-latency-p99", "api-5xx-rate", "alb-5xx-rate", "ecs-tasks-below-desired",
        "alb-unhealthy-targets", "alb-certificate-expiry", "aurora-connections-high", "aurora-acu-at-max",
        "stream-iterator-age", "analyzer-failures-queued", *[f"{fn}-error-rate" for fn in FUNCTIONS],
        "drift-score-psi", "drift-feature-psi", "drift-decline-rate", "model-refused",
    }  # fmt: skip
    assert set(_alarms(run)) == {f"alarm-{purpose}-{suffix}" for purpose in expected}


def test_observability_every_alarm_notifies_and_says_what_to_do(run: ProgramRun) -> None:
    topic = f"arn:aws:sns:{run.config['aws:region']}:{ACCOUNT_ID}:topic/sns-alarms-{run.suffix}"
    for name, alarm in _alarms(run).items():
        assert alarm["alarmActions"] == [topic] and alarm["okActions"] == [topic], name
        assert alarm["actionsEnabled"] is True
        assert len(alarm["alarmDescription"]) > 40, f"{name} needs a description that says what to do"
        assert alarm["treatMissingData"] in VALID_MISSING_DATA


def test_observability_latency_alarms_fire_above_200ms_p99(run: ProgramRun) -> None:
    alarms = _alarms(run)
    api = alarms[f"alarm-api-latency-p99-{run.suffix}"]
    assert (api["extendedStatistic"], api["threshold"]) == ("p99", 200)
    assert api["dimensions"] == {"ApiName": f"apigw-fraud-{run.suffix}", "Stage": "v1"}
    alb = alarms[f"alarm-alb-latency-p99-{run.suffix}"]
    assert (alb["extendedStatistic"], alb["threshold"]) == ("p99", 0.2)


def test_observability_lambda_error_rate_alarms_use_metric_math_over_one_percent(run: ProgramRun) -> None:
    for fn in FUNCTIONS:
        alarm = _alarms(run)[f"alarm-{fn}-error-rate-{run.suffix}"]
        assert alarm["threshold"] == 1 and alarm["comparisonOperator"] == "GreaterThanThreshold"
        queries = {q["id"]: q for q in alarm["metricQueries"]}
        assert queries["numerator"]["metric"]["metricName"] == "Errors"
        assert queries["denominator"]["metric"]["metricName"] == "Invocations"
        assert queries["numerator"]["metric"]["dimensions"] == {"FunctionName": f"lambda-{fn}-{run.suffix}"}
        assert "100 * numerator / denominator" in queries["rate"]["expression"]
        assert queries["rate"]["returnData"] is True


def test_observability_missing_task_data_is_an_incident_missing_traffic_is_not(run: ProgramRun) -> None:
    alarms = _alarms(run)
    assert alarms[f"alarm-ecs-tasks-below-desired-{run.suffix}"]["treatMissingData"] == "breaching"
    for purpose in ("api-latency-p99", "api-5xx-rate", "analyzer-failures-queued", "stream-iterator-age"):
        assert alarms[f"alarm-{purpose}-{run.suffix}"]["treatMissingData"] == "notBreaching"


def test_observability_capacity_alarms_follow_the_database_size(run: ProgramRun) -> None:
    alarms = _alarms(run)
    # dev keeps dbMaxAcu 4, prod 8 (README "Sizing"). 80% of LEAST(memory / 9531392, 5000), rounded
    # down: at 4 ACU (8 GiB) 0.8 * 901.2, at 8 ACU (16 GiB) 0.8 * 1802.4.
    max_acu, connections = {"dev": (4.0, 720), "prod": (8.0, 1441)}[run.stack]
    assert alarms[f"alarm-aurora-acu-at-max-{run.suffix}"]["threshold"] == max_acu
    assert alarms[f"alarm-aurora-connections-high-{run.suffix}"]["threshold"] == connections
    queue = alarms[f"alarm-analyzer-failures-queued-{run.suffix}"]
    assert queue["dimensions"] == {"QueueName": f"sqs-analyzer-failures-{run.suffix}"} and queue["threshold"] == 0


def test_observability_alarm_topic_is_encrypted_and_mails_the_on_call(run: ProgramRun) -> None:
    topic = run.one("aws:sns/topic:Topic").inputs
    assert topic["name"] == f"sns-alarms-{run.suffix}"
    assert topic["kmsMasterKeyId"].endswith("key/fraud-data-key")
    subscription = run.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", run.config["fraud-detection:alarmEmail"])
    [statement] = json.loads(run.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID


def test_observability_xray_sampling_rule_and_group_per_stack(run: ProgramRun) -> None:
    rule = run.one("aws:xray/samplingRule:SamplingRule").inputs
    group = run.one("aws:xray/group:Group").inputs
    assert rule["ruleName"] == group["groupName"] == f"fraud-{run.suffix}"
    assert len(rule["ruleName"]) <= 32 and 0 < rule["fixedRate"] <= 1
    assert f"lambda-analyzer-{run.suffix}" in group["filterExpression"]


def test_observability_tracing_is_on_in_every_component(run: ProgramRun) -> None:
    functions = run.of_type("aws:lambda/function:Function")
    assert functions and all(f.inputs["tracingConfig"] == {"mode": "Active"} for f in functions)
    assert run.one("aws:apigateway/stage:Stage").inputs["xrayTracingEnabled"] is True
    containers = json.loads(
        run.named("aws:ecs/taskDefinition:TaskDefinition", "fraud-task").inputs["containerDefinitions"]
    )
    assert "otel-collector" in [c["name"] for c in containers]


def test_observability_every_log_group_masks_card_data(run: ProgramRun) -> None:
    log_groups = {r.inputs["name"] for r in run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    policies = run.of_type("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy")
    assert {p.inputs["logGroupName"] for p in policies} == log_groups
    for policy in policies:
        document = json.loads(policy.inputs["policyDocument"])
        operations = {next(iter(s["Operation"])) for s in document["Statement"]}
        assert operations == {"Audit", "Deidentify"}
        assert all(s["DataIdentifier"] == CARD_DATA_IDENTIFIERS for s in document["Statement"])


def test_observability_exports_the_dashboard_url(run: ProgramRun) -> None:
    region = run.config["aws:region"]
    assert run.outputs["dashboard_url"] == (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name=dashboard-fraud-{run.suffix}"
    )
    for key in ("api_url", "alb_dns_name", "dashboard_url", "reports_bucket_name"):
        assert run.outputs[key]


def test_observability_drift_psi_alarms_fire_above_the_act_level_on_the_daily_maximum(run: ProgramRun) -> None:
    alarms = _alarms(run)
    for purpose, metric in (("drift-score-psi", "ScorePSI"), ("drift-feature-psi", "FeaturePSI")):
        alarm = alarms[f"alarm-{purpose}-{run.suffix}"]
        assert (alarm["namespace"], alarm["metricName"]) == ("FraudDetection", metric)
        # Without the Feature dimension: the Maximum covers every feature the job published that day.
        assert alarm["dimensions"] == {"service": "fraud-drift"}
        assert (alarm["statistic"], alarm["period"]) == ("Maximum", 86400)
        assert (alarm["threshold"], alarm["comparisonOperator"]) == (0.25, "GreaterThanThreshold")
        assert (alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (1, 1)
        assert alarm["treatMissingData"] == "notBreaching"


def test_observability_drift_decline_rate_alarm_fires_outside_its_band(run: ProgramRun) -> None:
    alarm = _alarms(run)[f"alarm-drift-decline-rate-{run.suffix}"]
    queries = {q["id"]: q for q in alarm["metricQueries"]}
    assert queries["decline"]["metric"] == {
        "namespace": "FraudDetection",
        "metricName": "DeclineRate",
        "dimensions": {"service": "fraud-drift"},
        "period": 86400,
        "stat": "Maximum",
    }
    # 0.63 % declined in the training window: a third to three times that
    assert queries["outside"]["expression"] == "IF(decline < 0.2 OR decline > 1.9, 1, 0)"
    assert queries["outside"]["returnData"] is True
    assert (alarm["threshold"], alarm["comparisonOperator"]) == (0, "GreaterThanThreshold")


def test_observability_dashboard_has_a_drift_row(run: ProgramRun) -> None:
    widgets = {w["properties"].get("title"): w for w in _dashboard(run)["widgets"]}
    psi = widgets["Drift: PSI of the score and of each top feature (daily)"]["properties"]
    score, [features] = psi["metrics"]
    assert score == ["FraudDetection", "ScorePSI", "service", "fraud-drift", {"stat": "Maximum", "label": "score"}]
    assert features["expression"] == (
        "SEARCH('{FraudDetection,Feature,service} MetricName=\"FeaturePSI\"', 'Maximum', 86400)"
    )
    assert [line["value"] for line in psi["annotations"]["horizontal"]] == [0.1, 0.25]
    assert psi["period"] == 86400
    rates = widgets["Review and decline rate (%, daily)"]["properties"]["metrics"]
    assert [m[1] for m in rates] == ["ReviewRate", "DeclineRate"]


def test_observability_a_refused_model_version_alarms_from_either_service(run: ProgramRun) -> None:
    # GIVEN the log groups of the two services that load the promoted model
    filters = {
        f.inputs["logGroupName"]: f.inputs for f in run.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    assert set(filters) == {f"/aws/lambda/lambda-analyzer-{run.suffix}", f"/fraud/fraud-api-{run.suffix}"}
    for log_filter in filters.values():
        # THEN each counts its refusal log line into one metric
        assert log_filter["pattern"] == '{ $.message = "model version refused; keeping the current model" }'
        assert log_filter["metricTransformation"] == {
            "name": "ModelRefused", "namespace": "FraudDetection", "value": "1", "unit": "Count"
        }  # fmt: skip
    # AND one refusal in five minutes fires the alarm; no refusals (no data) is quiet
    alarm = _alarms(run)[f"alarm-model-refused-{run.suffix}"]
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"], alarm["period"]) == (
        "FraudDetection",
        "ModelRefused",
        "Sum",
        300,
    )
    assert (alarm["comparisonOperator"], alarm["threshold"], alarm["evaluationPeriods"]) == (
        "GreaterThanThreshold",
        0,
        1,
    )
    assert alarm["treatMissingData"] == "notBreaching"


def test_observability_the_refusal_filter_matches_the_line_a_refusing_service_writes(
    run: ProgramRun, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a registry whose promoted version is a truncated artifact
    store, pointer = local_registry(tmp_path)
    corrupt = tmp_path / "models" / "v2" / "model.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text(json.dumps(amount_model_artifact("v2"))[:-30], encoding="utf-8")
    pointer.write(PointerValue("v2", None, None))
    # WHEN a service's watcher reads it, and fraud-api's formatter writes what was logged
    with caplog.at_level(logging.ERROR, logger="fraud_scoring.registry"):
        ModelWatcher(store, pointer, Scorer.load())
    [line] = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.levelno == logging.ERROR]
    # THEN the deployed filter's JSON selector ({ $.message = "<text>" }: that field equals the text) holds
    pattern = run.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")[0].inputs["pattern"]
    selector = re.fullmatch(r'\{ \$\.message = "([^"*]*)" \}', pattern)
    assert selector is not None and line["message"] == selector.group(1)
    assert line["refused_version"] == "v2"


def test_observability_dashboard_shows_model_refusals_and_shadow_failures(run: ProgramRun) -> None:
    widgets = {w["properties"].get("title"): w for w in _dashboard(run)["widgets"]}
    model = widgets["Model versions refused, shadow failures (per 5 min)"]["properties"]
    refused, [shadow] = model["metrics"]
    assert refused == ["FraudDetection", "ModelRefused", {"stat": "Sum", "label": "refused"}]
    assert shadow["expression"] == "SEARCH('Namespace=\"FraudDetection\" MetricName=\"ShadowFailures\"', 'Sum', 300)"
    assert model["period"] == 300
