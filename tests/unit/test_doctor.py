"""The doctor's analysis on recorded inputs: a collector document built from the fixtures of one host
(reg-query-2022.txt and netsh-2022-en.txt describe the same bindings), changed one fact at a time."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.doctor.findings import Finding
from generator.doctor.report import DoctorReport, to_json, to_markdown
from generator.doctor.run import diagnose
from generator.importers.reg_text import read_reg_query

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
HOST = "web22.contoso.local"
ENDPOINT = {"url": f"https://{HOST}:5986/wsman", "auth": "negotiate", "username": "CONTOSO\\svc"}
MAIN = "ipport=0.0.0.0:443"
SHOW = (FIXTURES / "netsh-2022-en.txt").read_text(encoding="utf-8")
ADD_HELP = """
Usage: add sslcert [ipport=]<IP Address:port> | [hostnameport=]<name:port> | [ccs=]<port>
            | [scopedccs=]<name:port>
            [certhash=]<string> [appid=]<GUID> [[certstorename=]<string>
             verifyclientcertrevocation=enable|disable verifyrevocationwithcachedclientcertonly=enable|disable
             usagecheck=enable|disable revocationfreshnesstime=<u-int> urlretrievaltimeout=<u-int>
             sslctlidentifier=<string> sslctlstorename=<string> dsmapperusage=enable|disable
             clientcertnegotiation=enable|disable reject=enable|disable disablehttp2=enable|disable
             disablequic=enable|disable disabletls12=enable|disable disabletls13=enable|disable
             disablelegacytls=enable|disable disableocspstapling=enable|disable
             enabletokenbinding=enable|disable logextendedevents=enable|disable
             enablesessionticket=enable|disable disablesessionid=enable|disable]
"""
UPDATE_HELP = ADD_HELP.replace("add sslcert", "update sslcert")
NO_UPDATE = "The following command was not found: http update sslcert /?."


def registry_keys() -> list[dict[str, Any]]:
    """reg-query-2022.txt's binding keys as collect.ps1 reports them."""
    text = (FIXTURES / "reg-query-2022.txt").read_bytes().decode("utf-16")
    keys = []
    for key in read_reg_query(text, "q.txt").keys:
        parts = key.path.split("\\Parameters\\", 1)[-1].split("\\")
        if len(parts) != 2 or not parts[0].startswith("Ssl"):
            continue
        values = []
        for name, (_line, kind, data) in key.values.items():
            data_json = list(data) if isinstance(data, bytes) else data
            values.append({"name": name, "type": kind, "data": data_json})
        keys.append({"subkey": parts[0], "child": parts[1], "values": values})
    return keys


def netsh_run(arguments: str, text: str, code: int | None = 0) -> dict[str, Any]:
    return {"arguments": arguments, "exit_code": code, "text": text, "error": None}


def document() -> dict[str, Any]:
    return {
        "collector": "sslbind-doctor",
        "collected_at": "2026-11-30T10:00:00.0000000+01:00",
        "computer_name": "WEB22",
        "os": {
            "product_name": "Windows Server 2022 Datacenter",
            "current_build": "20348",
            "ubr": "2700",
            "display_version": "21H2",
            "error": None,
        },
        "powershell": {"version": "5.1.20348.2652", "edition": "Desktop", "language_mode": "FullLanguage"},
        "elevation": {"elevated": True, "detail": "S-1-16-12288"},
        "execution_policy": {
            "scopes": [
                {"scope": "MachinePolicy", "policy": "Undefined"},
                {"scope": "LocalMachine", "policy": "RemoteSigned"},
            ],
            "error": None,
        },
        "netsh": {
            "add_help": netsh_run("http add sslcert /?", ADD_HELP),
            "update_help": netsh_run("http update sslcert /?", UPDATE_HELP),
            "delete_help": netsh_run(
                "http delete sslcert /?", "Usage: delete sslcert [ipport=]<IP Address:port>"
            ),
            "show": netsh_run("http show sslcert", SHOW),
        },
        "registry": {
            "containers": {
                "SslBindingInfo": True,
                "SslSniBindingInfo": True,
                "SslCcsBindingInfo": True,
                "SslScopedCcsBindingInfo": False,
            },
            "keys": registry_keys(),
            "error": None,
        },
    }


def run(doc: dict[str, Any]) -> DoctorReport:
    return diagnose(doc, HOST, ENDPOINT)


def failing(report: DoctorReport) -> list[Finding]:
    return [f for f in report.findings if f.severity != "note"]


def key(doc: dict[str, Any], child: str) -> dict[str, Any]:
    found: dict[str, Any] = next(k for k in doc["registry"]["keys"] if k["child"] == child)
    return found


def set_value(doc: dict[str, Any], child: str, name: str, kind: str, data: Any) -> None:
    entry = key(doc, child)
    entry["values"] = [v for v in entry["values"] if v["name"] != name] + [
        {"name": name, "type": kind, "data": data}
    ]


def test_consistent_host_has_no_failing_finding() -> None:
    report = run(document())
    assert failing(report) == []
    assert (report.exit_code, report.outcome) == (0, "consistent")
    assert [c.name for c in report.crosscheck.bindings] == [
        MAIN,
        "ipport=[::]:8443",
        "ccs=443",
        "hostnameport=api.contoso.com:443",
    ]
    assert all(c.registry == c.netsh for c in report.crosscheck.bindings)
    # notes only: netsh's Extended Properties blocks, which no add parameter sets
    assert {f.severity for f in report.findings} == {"note"}
    assert all("Extended Properties" in f.message for f in report.findings)


def test_registry_value_disagreeing_names_binding_and_setting() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "DefaultFlags", "REG_DWORD", 0x412)  # + negotiate client certificate
    report = run(doc)
    assert report.exit_code == 1 and report.outcome == "inconsistent"
    (finding,) = failing(report)
    assert (finding.severity, finding.binding, finding.setting) == (
        "disagreement",
        MAIN,
        "clientcertnegotiation",
    )
    assert (finding.registry, finding.netsh) == ("enable", "disable")
    assert str(finding) == (
        f"{MAIN}: clientcertnegotiation: the registry decodes to 'enable', netsh shows 'disable'"
    )


def test_check_mode_disagreeing_is_named() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "DefaultSslCertCheckMode", "REG_DWORD", 0)
    (finding,) = failing(run(doc))
    assert (finding.binding, finding.setting, finding.registry, finding.netsh) == (
        MAIN,
        "verifyclientcertrevocation",
        "enable",
        "disable",
    )


def test_binding_on_one_side_only_is_a_disagreement() -> None:
    doc = document()
    doc["registry"]["keys"] = [k for k in doc["registry"]["keys"] if k["child"] != "[::]:8443"]
    extra = copy.deepcopy(key(doc, "0.0.0.0:443"))
    extra["child"] = "10.0.0.9:443"
    doc["registry"]["keys"].append(extra)
    messages = {(f.binding, f.message) for f in failing(run(doc))}
    assert messages == {
        ("ipport=[::]:8443", "netsh shows it but no registry key decodes to it"),
        ("ipport=10.0.0.9:443", "in the registry but not in netsh's output"),
    }


def with_caching_line(text: str, value: str) -> str:
    line = f"    Enable Caching Client Hello  : {value}\n"
    return text.replace(" Extended Properties:", line + " Extended Properties:", 1)


@pytest.mark.parametrize(
    ("show", "severity", "shown", "says"),
    [
        (SHOW, "note", "not shown", "netsh does not show it"),
        (with_caching_line(SHOW, "Set"), "note", "Set", "netsh shows 'Enable Caching Client Hello  : Set'"),
        (with_caching_line(SHOW, "Not Set"), "disagreement", "Not Set", "but netsh shows"),
    ],
)
def test_extra_flag_bit_against_what_netsh_shows(show: str, severity: str, shown: str, says: str) -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "DefaultFlags", "REG_DWORD", 0x8410)
    doc["netsh"]["show"]["text"] = show
    report = run(doc)
    check = report.crosscheck.bindings[0]
    assert [(e.field, e.bit, e.netsh) for e in check.extra_bits] == [("DefaultFlags", 0x8000, shown)]
    (finding,) = [f for f in report.findings if f.setting == "DefaultFlags"]
    assert (finding.severity, finding.binding) == (severity, MAIN)
    assert (
        "DefaultFlags carries 0x8000 ENABLE_CACHE_CLIENT_HELLO" in finding.message and says in finding.message
    )
    assert check.registry == check.netsh  # the known settings still agree
    assert report.exit_code == (1 if severity == "disagreement" else 0)


def test_netsh_line_set_for_a_bit_the_registry_lacks_is_a_disagreement() -> None:
    doc = document()
    doc["netsh"]["show"]["text"] = with_caching_line(SHOW, "Set")
    (finding,) = failing(run(doc))
    assert (finding.binding, finding.setting) == (MAIN, "Enable Caching Client Hello")
    assert "the registry's DefaultFlags lacks bit 0x8000" in finding.message


def test_freshness_line_against_bit_4() -> None:
    doc = document()
    line = "    Use Revocation Freshness Time : Disabled\n"
    doc["netsh"]["show"]["text"] = SHOW.replace(
        "    URL Retrieval Timeout        : 15000", line + "    URL Retrieval Timeout        : 15000"
    )
    (finding,) = failing(run(doc))  # [::]:8443 holds 0x10004
    assert (finding.binding, finding.setting) == ("ipport=[::]:8443", "Use Revocation Freshness Time")
    assert "bit 0x4 is set, netsh shows" in finding.message


def test_undecodable_key_is_blocking_and_named() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "SslFutureThing", "REG_QWORD", 5)
    report = run(doc)
    (finding,) = failing(report)
    assert finding.severity == "blocking" and finding.binding == MAIN  # named from the key, as import does
    assert "REG_QWORD (inferred" in finding.message and "refuses to change this binding" in finding.message
    assert report.outcome == "blocked"


def test_unknown_value_name_is_blocking_and_names_the_binding() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "SslFutureThing", "REG_DWORD", 5)
    (finding,) = failing(run(doc))
    assert finding.binding == MAIN and "unknown registry value 'SslFutureThing'" in finding.message


def test_unreadable_show_text_blocks_the_cross_check() -> None:
    doc = document()
    doc["netsh"]["show"] = netsh_run(
        "http show sslcert",
        SHOW.replace("Usage Check                  : Enabled", "Usage Check : Vielleicht", 1),
    )
    (finding,) = failing(run(doc))
    assert finding.severity == "blocking" and "bindings not cross-checked" in finding.message
    doc["netsh"]["show"] = netsh_run("http show sslcert", "Access is denied.", 1)
    (finding,) = failing(run(doc))
    assert finding.message == "netsh http show sslcert exited 1: 'Access is denied.'"


def test_host_without_bindings_is_consistent() -> None:
    doc = document()
    doc["registry"]["keys"] = []
    doc["netsh"]["show"]["text"] = "\nSSL Certificate bindings:\n-------------------------\n\n"
    report = run(doc)
    assert report.findings == () and report.crosscheck.bindings == ()


@pytest.mark.parametrize(
    ("change", "severity", "says"),
    [
        (lambda d: d["elevation"].update(elevated=False, detail="S-1-16-8192"), "blocking", "not elevated"),
        (lambda d: d["powershell"].update(version="4.0"), "blocking", "need PowerShell 5.1"),
        (
            lambda d: d["powershell"].update(language_mode="NoLanguage"),
            "blocking",
            "FullLanguage or Constrained",
        ),
        (
            lambda d: d["powershell"].update(language_mode="ConstrainedLanguage"),
            "note",
            "ConstrainedLanguage",
        ),
        (
            lambda d: d["registry"].update(error="Access denied"),
            "blocking",
            "could not be read (Access denied)",
        ),
        (lambda d: d["netsh"]["update_help"].update(text=NO_UPDATE, exit_code=1), "note", "no 'http update"),
        (
            lambda d: d["netsh"]["add_help"].update(text="Der Befehl wurde nicht gefunden"),
            "blocking",
            "no parameter",
        ),
        (
            lambda d: d["execution_policy"]["scopes"][0].update(policy="AllSigned"),
            "note",
            "AllSigned is in effect",
        ),
        (lambda d: d["elevation"].update(elevated=None, detail="not applicable (lab)"), None, ""),
    ],
)
def test_host_findings(change: Any, severity: str | None, says: str) -> None:
    doc = document()
    change(doc)
    found = [f for f in run(doc).findings if "Extended Properties" not in f.message]
    if severity is None:
        assert found == []
        return
    (finding,) = found
    assert finding.severity == severity and says in finding.message and finding.binding is None


def test_netsh_without_a_parameter_a_binding_needs_blocks_that_binding() -> None:
    doc = document()
    doc["netsh"]["add_help"]["text"] = ADD_HELP.replace("disablelegacytls=enable|disable ", "")
    found = failing(run(doc))
    assert [(f.severity, f.binding, f.setting) for f in found] == [("blocking", MAIN, "disablelegacytls")]
    assert "re-adding it needs disablelegacytls, which this netsh does not list" in found[0].message


def test_json_report_shape() -> None:
    doc = document()
    set_value(doc, "0.0.0.0:443", "DefaultFlags", "REG_DWORD", 0x8410)
    report = to_json(run(doc))
    json.dumps(report)  # serializable as is
    assert set(report) == {
        "tool",
        "host",
        "endpoint",
        "outcome",
        "exit_code",
        "counts",
        "collected_at",
        "system",
        "powershell",
        "elevation",
        "execution_policy",
        "netsh",
        "registry",
        "bindings",
        "tls",
        "findings",
    }
    assert report["tls"] == []  # no handshake recorded: diagnose was given none
    assert report["system"]["os"] == {
        "product_name": "Windows Server 2022 Datacenter",
        "current_build": "20348",
        "ubr": "2700",
        "display_version": "21H2",
    }
    assert report["netsh"]["update_sslcert"] is True and report["netsh"]["missing_parameters"] == []
    assert report["netsh"]["runs"]["show"]["text"] == SHOW
    main_key = report["registry"]["keys"][0]
    assert main_key["key"] == "SslBindingInfo\\0.0.0.0:443" and main_key["binding"] == MAIN
    assert {"name": "DefaultFlags", "type": "REG_DWORD", "data": 0x8410} in main_key["values"]
    assert {
        "name": "SslCertHash",
        "type": "REG_BINARY",
        "data": "40DB5BB1BF5659A155258D1D007C530FCB8996C2",
    } in main_key["values"]
    assert "inferred" in report["registry"]["types"]
    binding = report["bindings"][0]
    assert binding["extra_bits"] == [
        {
            "field": "DefaultFlags",
            "bit": "0x8000",
            "name": "0x8000 ENABLE_CACHE_CLIENT_HELLO (netsh: Enable Caching Client Hello)",
            "netsh": "not shown",
        }
    ]
    assert binding["consistent"] is True and binding["registry"] == binding["netsh"]
    assert "password" not in json.dumps(report).lower()


def test_markdown_report_has_every_section_and_verbatim_texts() -> None:
    doc = document()
    doc["netsh"]["show"]["text"] = SHOW + "\n```odd```\n"  # a fence inside must not end the block
    text = to_markdown(run(doc))
    for heading in (
        "# sslbind doctor: web22.contoso.local",
        "## Findings",
        "## Host",
        "## netsh",
        "## Bindings: sslbind's registry decoding against netsh's output",
        f"### {MAIN}: consistent",
        "## Registry: HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters",
        "### SslBindingInfo\\0.0.0.0:443",
        "## netsh output, verbatim",
        "### netsh http add sslcert /? (exit code 0)",
        "### netsh http show sslcert (exit code 0)",
    ):
        assert heading in text.splitlines(), heading
    assert "| OS | Windows Server 2022 Datacenter, build 20348.2700, version 21H2 |" in text
    assert "| elevated | yes (S-1-16-12288) |" in text
    assert "| DefaultFlags | REG_DWORD (inferred) | 0x410 (1040) |" in text
    assert "````text\n" + SHOW + "\n```odd```\n\n````" in text
    assert ADD_HELP in text


def test_doctor_refuses_to_overwrite_its_output_before_connecting(tmp_path: Path) -> None:
    existing = tmp_path / "report.md"
    existing.write_text("keep")
    result = CliRunner().invoke(cli, ["doctor", "--host", "127.0.0.1", "--port", "1", "-o", str(existing)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"sslbind: {existing}: already exists; sslbind never overwrites a file, choose another -o"
    ]
    assert existing.read_text() == "keep"


def test_doctor_of_an_unreachable_host_exits_1() -> None:
    args = ["--host", "127.0.0.1", "--port", "1", "--protocol", "http", "--auth", "basic", "--username", "u"]
    result = CliRunner().invoke(
        cli, ["doctor", *args, "--connection-timeout", "2"], env={"SSLBIND_PASSWORD": "x"}
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("sslbind: 127.0.0.1: unreachable") and result.stdout == ""
    as_json = CliRunner().invoke(
        cli, ["doctor", *args, "--connection-timeout", "2", "--json"], env={"SSLBIND_PASSWORD": "x"}
    )
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert (document["outcome"], document["exit_code"], document["host"]) == ("unreachable", 1, "127.0.0.1")
    assert document["error"].startswith("127.0.0.1: unreachable") and document["endpoint"]["auth"] == "basic"


def test_doctor_bad_usage_exits_2() -> None:
    assert CliRunner().invoke(cli, ["doctor"]).exit_code == 2  # --host is required
    result = CliRunner().invoke(
        cli,
        ["doctor", "--host", "web01", "--protocol", "http", "--auth", "basic", "--username", "u"],
        env={"SSLBIND_PASSWORD": "x"},
    )
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
