"""`doctor` and `import --host` report which certificate a TLS handshake from the host receives, per
binding (issue 11 item 3): real pypsrp to the lab, the handshake in real pwsh against the lab's TLS
front, which selects certificates the way HTTP.sys does (IP-specific first by default)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.lab.labcerts import issue_certificates, key_dir_for
from generator.lab.server import LabServer
from generator.spec import load_spec
from tests.e2e.conftest import PASSWORD, USER, write_state

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(600)]

MAIN = "ipport=0.0.0.0:443"
SNI = "hostnameport=api.contoso.com:443"
SHADOW = "ipport=10.0.0.5:443"


@contextlib.contextmanager
def lab(
    tmp: Path, pwsh: str, *, mode: str = "FullLanguage", front: bool = True
) -> Iterator[tuple[LabServer, str, str]]:
    """A lab host whose SNI binding holds a new certificate while an IP-specific binding on the same
    port (10.0.0.5:443) holds the old one: at 10.0.0.5 the IP binding answers for the SNI name."""
    path = tmp / "state.json"
    certs: dict[str, str] = {}

    def edit(state: dict[str, Any]) -> None:
        issue_certificates(state, key_dir_for(path))
        state["language_mode"] = mode
        old = str(state["bindings"][0]["certhash"]).lower()
        new = next(
            str(c["thumbprint"]).lower()
            for c in state["certificates"]
            if c["store"] == "WebHosting"
            and c["subject"] == "CN=api.contoso.com"
            and str(c["thumbprint"]).lower() != old
        )
        state["bindings"][1]["certhash"] = new
        state["bindings"].append(dict(state["bindings"][0], ipport="10.0.0.5:443"))
        certs.update(old=old, new=new)

    write_state(path, edit)
    with LabServer(path, USER, PASSWORD, pwsh=pwsh, tls_front=front) as server:
        yield server, certs["old"], certs["new"]


def sslbind(server: LabServer, command: str, *extra: str) -> Result:
    args = [command, "--host", server.host, "--protocol", "http", "--port", str(server.port), "--auth",
            "basic", "--username", USER, "--message-encryption", "never", "--connection-timeout", "5",
            "--read-timeout", "30", "--operation-timeout", "5", *extra]  # fmt: skip
    return CliRunner().invoke(cli, args, env={"SSLBIND_PASSWORD": PASSWORD}, catch_exceptions=False)


def seen(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (e["binding"], e["address"], e["server_name"], e["result"], e["thumbprint"], e["shadowed_by"])
        for e in entries
    )


def spec_block(text: str, binding: str) -> list[str]:
    """The spec lines of one binding (its key line up to the next binding)."""
    kind, key = binding.split("=", 1)
    lines = text.splitlines()
    start = lines.index(f"      - {kind}: {json.dumps(key)}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("      - ")), len(lines))
    return lines[start:end]


def test_doctor_and_import_name_the_ip_binding_that_answers_for_the_sni_name(
    pwsh: str, tmp_path: Path
) -> None:
    with lab(tmp_path, pwsh) as (server, old, new):
        result = sslbind(server, "doctor", "--json")
        assert result.exit_code == 0, result.output  # what clients get is reported, never a failure
        document = json.loads(result.stdout)
        legacy = next(e for e in document["tls"] if e["binding"] == "ipport=0.0.0.0:8443")
        assert seen(document["tls"]) == sorted(
            [
                (MAIN, "127.0.0.1", None, "match", old, None),
                ("ipport=0.0.0.0:8443", "127.0.0.1", None, "match", legacy["expected"], None),
                (SNI, "127.0.0.1", "api.contoso.com", "match", new, None),
                (SNI, "10.0.0.5", "api.contoso.com", "mismatch", old, SHADOW),
                (SHADOW, "10.0.0.5", None, "match", old, None),
            ]
        )
        assert all(e["protocol"] in ("Tls12", "Tls13") for e in document["tls"])
        sni = next(b for b in document["bindings"] if b["binding"] == SNI)
        assert [e["result"] for e in sni["tls"]] == ["match", "mismatch"]
        notes = [f for f in document["findings"] if f["setting"] == "tls"]
        assert [(f["severity"], f["binding"]) for f in notes] == [("note", SNI)]
        assert (
            "ip binding 10.0.0.5:443 answers before hostnameport api.contoso.com:443" in notes[0]["message"]
        )

        markdown = sslbind(server, "doctor").stdout
        assert "## TLS: which certificate a handshake from the host receives" in markdown
        assert f"| {SNI} | 10.0.0.5:443 (SNI api.contoso.com) | mismatch | {old} |" in markdown

        result = sslbind(server, "import", "-o", str(tmp_path / "imported.yaml"))
        assert result.exit_code == 0, result.output
        text = (tmp_path / "imported.yaml").read_text(encoding="utf-8")
        load_spec(tmp_path / "imported.yaml")  # the NOTEs are comments: the spec still loads
        block = spec_block(text, SNI)
        assert (
            f"        # NOTE: TLS from the host to 10.0.0.5:443 (SNI api.contoso.com): served {old} ("
        ) in "\n".join(block)
        shadow_note = next(line for line in block if "10.0.0.5:443 (SNI" in line)
        assert f"not its certhash {new}: ip binding 10.0.0.5:443 answers before" in shadow_note
        assert any(
            line.startswith("        # NOTE: TLS from the host to 127.0.0.1:443 (SNI api.contoso.com): ")
            and line.endswith("the binding's own certificate")
            for line in block
        )
        assert any("own certificate" in line for line in spec_block(text, MAIN))
        assert f"warning: {SNI}: TLS from the host to 10.0.0.5:443" in result.stderr
        assert "1 of 5 handshake(s) did not get the binding's own certificate" in text


def _not_checked(server: LabServer, tmp: Path, reason: str) -> None:
    result = sslbind(server, "doctor", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {e["binding"] for e in document["tls"]} == {MAIN, SNI, SHADOW, "ipport=0.0.0.0:8443"}
    assert {(e["result"], e["detail"].split(" for ")[0]) for e in document["tls"]} == {
        ("not checked", reason)
    }
    assert not [f for f in document["findings"] if f["setting"] == "tls"]
    result = sslbind(server, "import", "-o", str(tmp / "imported.yaml"))
    assert result.exit_code == 0, result.output
    text = (tmp / "imported.yaml").read_text(encoding="utf-8")
    assert f"# NOTE: TLS from the host: {reason}" in "\n".join(spec_block(text, MAIN)).replace(
        " to 127.0.0.1:443", ""
    )
    assert "0 of " in text


def test_constrained_language_reports_not_checked_and_never_fails(pwsh: str, tmp_path: Path) -> None:
    with lab(tmp_path, pwsh, mode="ConstrainedLanguage") as (server, _old, _new):
        _not_checked(server, tmp_path, "not checked: ConstrainedLanguage")


def test_a_lab_without_tls_front_says_why_it_is_not_checked(pwsh: str, tmp_path: Path) -> None:
    with lab(tmp_path, pwsh, front=False) as (server, _old, _new):
        _not_checked(server, tmp_path, "not checked: the sslbind lab serves no TLS")
