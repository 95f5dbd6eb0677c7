"""Opt-in, read-only: plan and verify against a real Windows host (skipped unless configured).

    SSLBIND_TEST_HOST=web01.contoso.local   the host (WinRM over HTTPS, port 5986 unless SSLBIND_TEST_PORT)
    SSLBIND_TEST_USER=CONTOSO\\svc-change    and SSLBIND_PASSWORD
    SSLBIND_TEST_AUTH=negotiate             optional; SSLBIND_TEST_CA_CERT=ca.pem optional
    SSLBIND_TEST_IPPORT=0.0.0.0:443         an existing binding, and its current
    SSLBIND_TEST_CERTHASH=<40 hex>          certificate hash: the spec asks for what is there

Nothing is changed on the host: plan must find nothing to do (exit 0) and verify no drift (exit 0).
`sslbind doctor` (which needs only the host, user and password) must find sslbind's registry
decoding in agreement with netsh on every binding (exit 0); its Markdown report is written to
SSLBIND_TEST_DOCTOR_REPORT when set (keep it: it records the host's netsh texts and registry values).

What only a real host can confirm, by hand, until these tests cover it (docs/windows-touchpoints.md
"Still to confirm on a real host"): `icacls %ProgramData%\\sslbind` after the first plan (owner
Administrators, no inheritance, SYSTEM and Administrators full control only) and that
`(Get-Acl).Sddl` reads it in ConstrainedLanguage on 5.1; the time of the first handshake after an
add on an internet-isolated host (and with an HSM or TPM key) against the 3+6+9 s retry; a 5.1
handshake against a TLS 1.3-only binding (`disabletls12=enable` on 2022); that the
Microsoft.PowerShell32 endpoint sets PROCESSOR_ARCHITEW6432 and is refused; whoami /groups of a
NetworkService session (System label, no S-1-5-32-544).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli

pytestmark = pytest.mark.windows
DOCTOR_NEEDS = ("SSLBIND_TEST_HOST", "SSLBIND_TEST_USER", "SSLBIND_PASSWORD")

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


def test_doctor_finds_registry_and_netsh_in_agreement(tmp_path: Path) -> None:
    missing = [name for name in DOCTOR_NEEDS if not os.environ.get(name)]
    if missing:
        pytest.skip(f"real Windows tests need {', '.join(missing)}")
    report = Path(os.environ.get("SSLBIND_TEST_DOCTOR_REPORT") or tmp_path / "doctor.md")
    args = [
        "doctor",
        "--host", os.environ["SSLBIND_TEST_HOST"],
        "--port", os.environ.get("SSLBIND_TEST_PORT", "5986"),
        "--auth", os.environ.get("SSLBIND_TEST_AUTH", "negotiate"),
        "--username", os.environ["SSLBIND_TEST_USER"],
        "-o", str(report),
    ]  # fmt: skip
    if os.environ.get("SSLBIND_TEST_CA_CERT"):
        args += ["--ca-cert", os.environ["SSLBIND_TEST_CA_CERT"]]
    result = CliRunner().invoke(cli, args)
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    assert result.exit_code == 0, result.output + text
    assert "| OS | unknown" not in text  # a real host has its build in the registry
    assert "### netsh http show sslcert (exit code 0)" in text
