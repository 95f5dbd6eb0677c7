"""`sslbind doctor` end to end: real pypsrp to the lab, the collector in real pwsh, one pipeline.

The lab's netsh prints a binding from its settings while the registry view takes a binding's
`registry` override, so an override is how a registry that disagrees with netsh is staged (on real
hosts: a registry edit HTTP.sys has not read yet).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.lab.server import LabServer
from tests.e2e.conftest import PASSWORD, USER, write_state

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]

MAIN = "ipport=0.0.0.0:443"
SECTIONS = (
    "## Findings",
    "## Host",
    "## netsh",
    "## Bindings: sslbind's registry decoding against netsh's output",
    "## Registry: HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters",
    "## netsh output, verbatim",
    "### netsh http add sslcert /? (exit code 0)",
    "### netsh http update sslcert /? (exit code 0)",
    "### netsh http delete sslcert /? (exit code 0)",
    "### netsh http show sslcert (exit code 0)",
)


def doctor(lab: LabServer, *extra: str) -> Result:
    args = [
        "doctor",
        "--host",
        lab.host,
        "--protocol",
        "http",
        "--port",
        str(lab.port),
        "--auth",
        "basic",
        "--username",
        USER,
        "--message-encryption",
        "never",
        "--connection-timeout",
        "5",
        "--read-timeout",
        "30",
        "--operation-timeout",
        "5",
        *extra,
    ]
    return CliRunner().invoke(cli, args, env={"SSLBIND_PASSWORD": PASSWORD}, catch_exceptions=False)


def staged(lab: LabServer, edit: Callable[[dict[str, Any]], None] | None = None) -> None:
    write_state(lab.state.path, edit)


def test_consistent_lab_host_exits_0_with_every_section(lab: LabServer, tmp_path: Path) -> None:
    staged(lab)
    before = lab.state.path.read_bytes()
    result = doctor(lab)
    assert result.exit_code == 0, result.output
    report = result.stdout
    assert report.startswith(f"# sslbind doctor: {lab.host}\n")
    assert "**consistent** (exit 0): 3 binding(s), 0 disagreement(s), 0 blocking" in report
    for section in SECTIONS:
        assert section in report.splitlines(), section
    for binding in (MAIN, "ipport=0.0.0.0:8443", "hostnameport=api.contoso.com:443"):
        assert f"### {binding}: consistent" in report
    assert "| elevated | not applicable (lab) |" in report
    assert "| PowerShell | 7." in report and "| language mode | FullLanguage |" in report
    assert "| has `http update sslcert` | yes |" in report
    assert "| DefaultSslCertCheckMode | REG_DWORD (inferred) | 0x1 (1) |" in report
    assert "SSL Certificate bindings:" in report and "certhash=" in report  # texts verbatim
    assert PASSWORD not in report and PASSWORD not in result.stderr
    assert result.stderr.startswith(f"doctor {lab.host}: consistent: 3 binding(s)")
    assert lab.state.path.read_bytes() == before  # read-only

    out = tmp_path / "doctor.json"
    as_json = doctor(lab, "--json", "-o", str(out))
    assert as_json.exit_code == 0 and as_json.stdout == ""
    document = json.loads(out.read_text())
    assert (document["outcome"], document["exit_code"], document["host"]) == ("consistent", 0, lab.host)
    assert [b["binding"] for b in document["bindings"]] == [
        MAIN,
        "ipport=0.0.0.0:8443",
        "hostnameport=api.contoso.com:443",
    ]
    assert all(b["consistent"] and b["registry"] == b["netsh"] for b in document["bindings"])
    assert document["powershell"]["language_mode"] == "FullLanguage"
    assert document["system"]["os"]["product_name"] in ("unknown", document["system"]["os"]["product_name"])
    assert doctor(lab, "--json", "-o", str(out)).exit_code == 2  # never overwrites


def test_registry_disagreeing_with_netsh_exits_1_naming_binding_and_setting(lab: LabServer) -> None:
    def edited_registry(state: dict[str, Any]) -> None:
        state["bindings"][0]["registry"] = {"SslCertStoreName": "WebHosting"}  # netsh still shows My

    staged(lab, edited_registry)
    result = doctor(lab, "--json")
    assert result.exit_code == 1, result.output
    line = f"disagreement: {MAIN}: certstorename: the registry decodes to 'WebHosting', netsh shows 'My'"
    assert line in result.stderr.splitlines()
    document = json.loads(result.stdout)
    assert document["outcome"] == "inconsistent"
    (finding,) = [f for f in document["findings"] if f["severity"] != "note"]
    assert (finding["binding"], finding["setting"], finding["registry"], finding["netsh"]) == (
        MAIN,
        "certstorename",
        "WebHosting",
        "My",
    )
    main = next(b for b in document["bindings"] if b["binding"] == MAIN)
    assert main["consistent"] is False


def test_extra_flag_bit_in_constrained_language_is_named_not_failed(lab: LabServer) -> None:
    def hardened(state: dict[str, Any]) -> None:
        state["bindings"][0]["registry"] = {"DefaultFlags": 0x8000}  # 0.0.0.0:443 sets no other flag
        state["language_mode"] = "ConstrainedLanguage"
        state["netsh"]["help_layout"] = "2025"

    staged(lab, hardened)
    result = doctor(lab, "--json")
    assert result.exit_code == 0, result.output  # netsh shows the bit as held, or not at all: no failure
    document = json.loads(result.stdout)
    assert document["powershell"]["language_mode"] == "ConstrainedLanguage"
    main = next(b for b in document["bindings"] if b["binding"] == MAIN)
    (extra,) = main["extra_bits"]
    assert extra["bit"] == "0x8000" and extra["name"].startswith("0x8000 ENABLE_CACHE_CLIENT_HELLO")
    assert extra["netsh"] in ("Set", "not shown")  # the 2025 layout prints the line where the lab knows it
    notes = [f for f in document["findings"] if f["binding"] == MAIN]
    assert [(f["severity"], f["setting"]) for f in notes] == [("note", "DefaultFlags")]
    assert "DefaultFlags carries 0x8000 ENABLE_CACHE_CLIENT_HELLO" in notes[0]["message"]
    assert "refuses a change that deletes and re-adds this binding" in notes[0]["message"]
    assert any(
        f["severity"] == "note" and "ConstrainedLanguage" in f["message"] for f in document["findings"]
    )


# Adversarial run 2, N2: an OSC title, a clear-screen, a colour, a NUL and HTML in host text.
EVIL = "\x1b]0;PWNED-TITLE\x1b\\\x1b[2J\x1b[31mred\x00<script>alert(1)</script><img src=x onerror=alert(2)>"


def raw_controls(text: str) -> list[str]:
    """Control characters other than line ends and tabs (netsh's verbatim output keeps its tabs)."""
    return [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]


def test_hostile_registry_values_and_subjects_reach_no_output_raw(lab: LabServer, tmp_path: Path) -> None:
    def hostile(state: dict[str, Any]) -> None:
        state["bindings"][0]["registry"] = {"SslCtlStoreName": EVIL, "SslCtlIdentifier": EVIL}
        for cert in state["certificates"]:
            cert["subject"] = "CN=api.contoso.com " + EVIL

    staged(lab, hostile)
    markdown = tmp_path / "doctor.md"
    result = doctor(lab, "-o", str(markdown))
    assert result.exit_code in (0, 1), result.output
    text = markdown.read_text(encoding="utf-8")
    assert "\\x1b]0;PWNED-TITLE" in text  # the value is there, shown escaped
    assert not raw_controls(text) and not raw_controls(result.output)
    cells = [line for line in text.splitlines() if line.startswith("| SslCtl")]
    assert cells and all("<" not in c and "&lt;script&gt;" in c for c in cells), cells
