"""What AWS computes for the resources the program reads back, per resource type.

Each entry takes (region, logical name, inputs) and returns the outputs the provider would add.
The values are plausible, stable strings so tests can assert on exactly what flows downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"
REST_API_ID = "a1b2c3d4e5"
Computed = Callable[[str, str, dict[str, Any]], dict[str, Any]]


def _bucket(_region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"bucket": inputs["bucket"], "arn": f"arn:aws:s3:::{inputs['bucket']}"}


def _table(region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{inputs['name']}"
    return {"arn": arn, "streamArn": f"{arn}/stream/2026-01-01T00:00:00.000"}


def _cluster(region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    ident = inputs["clusterIdentifier"]
    return {
        "endpoint": f"{ident}.cluster-abc.{region}.rds.amazonaws.com",
        "readerEndpoint": f"{ident}.cluster-ro-abc.{region}.rds.amazonaws.com",
        "clusterResourceId": "cluster-ABCDEFGHIJKL",
        "masterUserSecrets": [{"secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!cluster-abc"}],
    }


def _endpoint(_region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("vpcEndpointType") != "Gateway":
        return {}
    return {"prefixListId": "pl-" + inputs["serviceName"].rsplit(".", 1)[-1]}


def _function(region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{inputs['name']}"
    return {"arn": arn, "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"}


def _rest_api(region: str, _name: str, _inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": REST_API_ID,
        "rootResourceId": "root123",
        "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{REST_API_ID}",
    }


def _stage(region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    stage = inputs["stageName"]
    return {
        "invokeUrl": f"https://{REST_API_ID}.execute-api.{region}.amazonaws.com/{stage}",
        "arn": f"arn:aws:apigateway:{region}::/restapis/{REST_API_ID}/stages/{stage}",
    }


def _load_balancer(region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "dnsName": f"{inputs['name']}-1234567890.{region}.elb.amazonaws.com",
        "arnSuffix": f"app/{inputs['name']}/0123456789abcdef",
        "zoneId": "Z35SXDOTRQ7X7K",
    }


def _certificate(_region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs.get("validationMethod") != "DNS":
        return {}
    domain = inputs["domainName"]
    record = {"resourceRecordName": f"_abc.{domain}.", "resourceRecordType": "CNAME",
              "resourceRecordValue": "_xyz.acm-validations.aws.", "domainName": domain}  # fmt: skip
    return {"domainValidationOptions": [record]}


# What buildx reports after a push: the digest, and `ref` = <first tag>@<digest>.
IMAGE_DIGEST = "sha256:" + "ab" * 32


def _image(_region: str, _name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"digest": IMAGE_DIGEST, "ref": f"{inputs['tags'][0]}@{IMAGE_DIGEST}", "contextHash": "ctx"}


COMPUTED: dict[str, Computed] = {
    "aws:acm/certificate:Certificate": _certificate,
    "aws:route53/record:Record": lambda _r, _n, i: {"fqdn": i["name"].rstrip(".")},
    "aws:s3/bucket:Bucket": _bucket,
    "aws:dynamodb/table:Table": _table,
    "aws:rds/cluster:Cluster": _cluster,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:lambda/function:Function": _function,
    "aws:lambda/layerVersion:LayerVersion": lambda r, _n, i: {
        "arn": f"arn:aws:lambda:{r}:{ACCOUNT_ID}:layer:{i['layerName']}:1",
        "layerArn": f"arn:aws:lambda:{r}:{ACCOUNT_ID}:layer:{i['layerName']}",
        "version": "1",
    },
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway/stage:Stage": _stage,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:kms/key:Key": lambda _r, name, _i: {"keyId": f"key-{name}"},
    # A parameter's ARN drops the leading "/" of a path name: parameter/fraud-detection/dev/...
    "aws:ssm/parameter:Parameter": lambda r, _n, i: {
        "arn": f"arn:aws:ssm:{r}:{ACCOUNT_ID}:parameter/{i['name'].lstrip('/')}"
    },
    "aws:sqs/queue:Queue": lambda r, _n, i: {"url": f"https://sqs.{r}.amazonaws.com/{ACCOUNT_ID}/{i['name']}"},
    "aws:cloudwatch/eventRule:EventRule": lambda r, _n, i: {"arn": f"arn:aws:events:{r}:{ACCOUNT_ID}:rule/{i['name']}"},
    "aws:ecr/repository:Repository": lambda r, _n, i: {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{r}.amazonaws.com/{i['name']}",
        "registryId": ACCOUNT_ID,
    },
    # AWS names a task definition by family and revision; the first registration is revision 1.
    "aws:ecs/taskDefinition:TaskDefinition": lambda r, _n, i: {
        "arn": f"arn:aws:ecs:{r}:{ACCOUNT_ID}:task-definition/{i['family']}:1",
        "arnWithoutRevision": f"arn:aws:ecs:{r}:{ACCOUNT_ID}:task-definition/{i['family']}",
        "revision": 1,
    },
    "docker-build:index:Image": _image,
    "tls:index/privateKey:PrivateKey": lambda _r, _n, _i: {"privateKeyPem": "-----BEGIN PRIVATE KEY-----\nmock\n"},
    "tls:index/selfSignedCert:SelfSignedCert": lambda _r, _n, _i: {"certPem": "-----BEGIN CERTIFICATE-----\nmock\n"},
    "random:index/randomPassword:RandomPassword": lambda _r, _n, i: {"result": "x" * int(i.get("length", 16))},
}

# Remote (multi-language) components: their own outputs only, never their inputs echoed back.
REMOTE_COMPONENT_OUTPUTS: dict[str, Computed] = {
    "awsx:ec2:Vpc": lambda _r, _n, _i: {
        "vpcId": "vpc-0fraud",
        "publicSubnetIds": [f"subnet-public-{i}" for i in range(3)],
        "privateSubnetIds": [f"subnet-private-{i}" for i in range(3)],
        "isolatedSubnetIds": [],
    },
}


# getAvailabilityZones answers as AWS does: zone names with their zone IDs as parallel lists, in name
# order. Names map to IDs differently in every account; this one maps us-east-1b to use1-az3 (the
# zone the stack must skip), so a program taking the first three names would land in it.
AVAILABILITY_ZONE_IDS: dict[str, dict[str, str]] = {
    "us-east-1": {
        "us-east-1a": "use1-az6",
        "us-east-1b": "use1-az3",
        "us-east-1c": "use1-az1",
        "us-east-1d": "use1-az2",
        "us-east-1e": "use1-az4",
        "us-east-1f": "use1-az5",
    },
    "us-east-2": {"us-east-2a": "use2-az1", "us-east-2b": "use2-az2", "us-east-2c": "use2-az3"},
}


def availability_zones(region: str) -> dict[str, list[str]]:
    zones = AVAILABILITY_ZONE_IDS.get(region) or {f"{region}{z}": f"{region}-az{i + 1}" for i, z in enumerate("abc")}
    return {"names": list(zones), "zoneIds": list(zones.values())}
