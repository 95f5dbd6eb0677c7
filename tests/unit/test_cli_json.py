"""`--json` always prints exactly one JSON document on stdout, refusals and usage errors included.

The human line stays on stderr. A command that prints its own document (plan's report, doctor's
unreachable report) is not given a second one.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli

NEW = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spec(tmp_path: Path, port: int | None = None) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "version: 1\n"
        "change: {id: CHG0000001, title: json test}\n"
        f"connection: {{protocol: http, port: {port or closed_port()}, auth: basic, username: lab, "
        "message_encryption: never, connection_timeout: 2}\n"
        "targets:\n"
        "  - host: 127.0.0.1\n"
        "    bindings:\n"
        f"      - {{ipport: 0.0.0.0:443, certhash: {NEW}, appid: '{APPID}'}}\n",
        encoding="utf-8",
    )
    return path


def sslbind(*args: str, password: str = "pw") -> Result:
    return CliRunner().invoke(cli, list(args), env={"SSLBIND_PASSWORD": password})


def document(result: Result) -> dict[str, Any]:
    parsed = json.loads(result.stdout)  # raises unless stdout is exactly one document
    assert isinstance(parsed, dict)
    assert "Traceback" not in result.output
    return parsed


def error_document(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    found = document(result)
    assert found["outcome"] == "error" and found["exit_code"] == exit_code, found
    assert isinstance(found["error"], str)
    return found["error"]


@pytest.mark.parametrize("command", ["plan", "verify", "apply", "rollback"])
def test_a_usage_error_is_a_json_document(tmp_path: Path, command: str) -> None:
    result = sslbind(command, "--json", str(tmp_path / "missing"))
    error = error_document(result, 2)
    assert "does not exist" in error
    assert "Usage:" in result.stderr  # click's usage text stays on stderr


def test_a_missing_password_is_a_json_document(tmp_path: Path) -> None:
    result = sslbind("plan", str(spec(tmp_path)), "-o", str(tmp_path / "out"), "--json", password="")
    error = error_document(result, 2)
    assert "needs a password" in error
    assert result.stderr == f"sslbind: {error}\n"


def test_a_refusal_of_apply_is_a_json_document(tmp_path: Path) -> None:
    assert sslbind("render", str(spec(tmp_path)), "-o", str(tmp_path)).exit_code == 0
    result = sslbind("apply", str(tmp_path / "CHG0000001"), "--yes", "--json")
    assert "no plan yet" in error_document(result, 2)


def test_a_tampered_record_is_a_json_document(tmp_path: Path) -> None:
    assert sslbind("render", str(spec(tmp_path)), "-o", str(tmp_path)).exit_code == 0
    record = tmp_path / "CHG0000001"
    (record / "README.md").write_text("changed", encoding="utf-8")
    for command in ("apply", "rollback"):
        result = sslbind(command, str(record), "--yes", "--json")
        assert result.exit_code in (1, 2)
        error_document(result, result.exit_code)


def test_a_bad_spec_is_a_json_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nchange: [\n", encoding="utf-8")
    result = sslbind("verify", str(bad), "--json")
    assert error_document(result, 2).startswith(f"{bad}:")


def test_a_device_as_spec_is_a_json_document() -> None:
    result = sslbind("verify", "/dev/zero", "--json")
    assert "is a character device" in error_document(result, 2)


def test_a_command_that_printed_its_own_document_gets_no_second_one(tmp_path: Path) -> None:
    result = sslbind("plan", str(spec(tmp_path)), "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 1  # unreachable host: plan's own report
    own = document(result)
    assert own["kind"] == "plan" and own["exit_code"] == 1 and "hosts" in own


def test_doctor_unreachable_is_one_document_and_a_refusal_is_one_too(tmp_path: Path) -> None:
    port = str(closed_port())
    flags = ["--protocol", "http", "--port", port, "--auth", "basic", "--username", "u"]
    result = sslbind("doctor", "--host", "127.0.0.1", *flags, "--json")
    assert result.exit_code == 1
    assert document(result)["outcome"] == "unreachable"
    taken = tmp_path / "taken.json"
    taken.write_text("{}", encoding="utf-8")
    refused = sslbind("doctor", "--host", "127.0.0.1", *flags, "--json", "-o", str(taken))
    assert "already exists" in error_document(refused, 2)


def test_without_json_nothing_is_printed_on_stdout(tmp_path: Path) -> None:
    result = sslbind("apply", str(tmp_path / "missing"))
    assert result.exit_code == 2 and result.stdout == ""


def test_json_after_a_double_dash_is_an_argument_not_the_flag(tmp_path: Path) -> None:
    result = sslbind("verify", "--", "--json")
    assert result.exit_code == 2 and result.stdout == ""
