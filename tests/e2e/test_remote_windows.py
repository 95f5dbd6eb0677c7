"""Opt-in, read-only: plan and verify against a real Windows host (skipped unless configured).

    SSLBIND_TEST_HOST=web01.contoso.local   the host (WinRM over HTTPS, port 5986 unless SSLBIND_TEST_PORT)
    SSLBIND_TEST_USER=CONTOSO\\svc-change    and SSLBIND_PASSWORD
    SSLBIND_TEST_AUTH=negotiate             optional; SSLBIND_TEST_CA_CERT=ca.pem optional
    SSLBIND_TEST_IPPORT=0.0.0.0:443         an existing binding, and its current
    SSLBIND_TEST_CERTHASH=<40 hex>          certificate hash: the spec asks for what is there

Nothing is changed on the host: plan must find nothing to do (exit 0) and verify no drift (exit 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli

pytestmark = pytest.mark.windows

NEEDED = (
    "SSLBIND_TEST_HOST",
    "SSLBIND_TEST_USER",
    "SSLBIND_PASSWORD",
    "SSLBIND_TEST_IPPORT",
    "SSLBIND_TEST_CERTHASH",
)


@pytest.fixture
def windows_spec(tmp_path: Path) -> Path:
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        pytest.skip(f"real Windows tests need {', '.join(missing)}")
    connection: dict[str, object] = {
        "protocol": "https",
        "port": int(os.environ.get("SSLBIND_TEST_PORT", "5986")),
        "auth": os.environ.get("SSLBIND_TEST_AUTH", "negotiate"),
        "username": os.environ["SSLBIND_TEST_USER"],
    }
    if os.environ.get("SSLBIND_TEST_CA_CERT"):
        connection["ca_cert"] = os.environ["SSLBIND_TEST_CA_CERT"]
    document = {
        "version": 1,
        "change": {"id": "CHG-WINDOWS-READONLY", "title": "read-only check against a real host"},
        "connection": connection,
        "targets": [
            {
                "host": os.environ["SSLBIND_TEST_HOST"],
                "bindings": [
                    {
                        "ipport": os.environ["SSLBIND_TEST_IPPORT"],
                        "certhash": os.environ["SSLBIND_TEST_CERTHASH"],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "windows.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_plan_and_verify_change_nothing(windows_spec: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    planned = runner.invoke(cli, ["plan", str(windows_spec), "-o", str(tmp_path / "out")])
    assert planned.exit_code == 0, planned.output
    verified = runner.invoke(cli, ["verify", str(windows_spec)])
    assert verified.exit_code == 0, verified.output
