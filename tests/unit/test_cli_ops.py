"""`gpucloud ops credentials`: the operations session that names the person (issue 21, 6), against a stubbed STS."""

from __future__ import annotations

import datetime
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from gpucloud.cli import main

ROLE = "arn:aws:iam::111111111111:role/gpucloud-operations"


@pytest.fixture()
def sts(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret"
    )
    stub = Stubber(client)
    real = boto3.client
    monkeypatch.setattr(boto3, "client", lambda name, *a, **k: client if name == "sts" else real(name, *a, **k))
    return stub


def answer(expiration: datetime.datetime) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
            "SecretAccessKey": "s",
            "SessionToken": "t",
            "Expiration": expiration,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLEEXAMPLE12:alice@example.com",
            "Arn": f"{ROLE}/alice@example.com",
        },
        "SourceIdentity": "alice@example.com",
    }


def test_it_assumes_the_role_as_the_person_and_prints_credential_process_json(
    sts: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    expires = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    expected = {
        "RoleArn": ROLE,
        "RoleSessionName": "alice@example.com",
        "SourceIdentity": "alice@example.com",
        "DurationSeconds": 3600,
    }
    sts.add_response("assume_role", answer(expires), expected)
    with sts:
        status = main(["ops", "credentials", "--role-arn", ROLE, "--source-identity", "alice@example.com"])
    assert status == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
        "SecretAccessKey": "s",
        "SessionToken": "t",
        "Expiration": "2026-12-07T12:00:00+00:00",
    }
    sts.assert_no_pending_responses()


def test_a_refusal_is_one_line_and_exit_1(sts: Stubber, capsys: pytest.CaptureFixture[str]) -> None:
    sts.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:SetSourceIdentity")
    with sts:
        status = main(["ops", "credentials", "--role-arn", ROLE, "--source-identity", "alice"])
    err = capsys.readouterr().err
    assert status == 1 and "could not assume" in err and "SetSourceIdentity" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--source-identity", "a b"), ("--source-identity", "aws:root"), ("--source-identity", "x"), ("--role-arn", "r")],
)
def test_bad_input_names_the_value_and_exits_2(
    sts: Stubber, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    args = {"--role-arn": ROLE, "--source-identity": "alice"} | {option: value}
    with sts:  # no response queued: a call to STS would fail the test
        status = main(["ops", "credentials", *[x for kv in args.items() for x in kv]])
    err = capsys.readouterr().err
    assert status == 2 and f"{option}={value!r}" in err and len(err.strip().splitlines()) == 1
