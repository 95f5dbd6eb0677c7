"""Adopt and rotate end to end on the lab: a live import re-plans to nothing, a rotation keeps every
setting but the hash. Real pypsrp, real pwsh, the lab's simulated HTTP.sys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.binding import SETTINGS_BY_NAME, default_settings
from generator.lab.sample import CLIENT_AUTH_CERT, NO_KEY_CERT
from tests.e2e.conftest import USER
from tests.e2e.test_remote_harness import NEW_CERT, OLD_CERT, LabHosts, lab_hosts

pytestmark = [pytest.mark.lab, pytest.mark.pwsh]


def connection_args(lab: LabHosts, host: str) -> list[str]:
    port = str(lab.servers[host].port)
    return ["--protocol", "http", "--port", port, "--auth", "basic", "--username", USER,
            "--message-encryption", "never", "--connection-timeout", "5", "--read-timeout", "30",
            "--operation-timeout", "5"]  # fmt: skip


def lab_port(lab: LabHosts, host: str) -> list[str]:
    """The lab's port, which a spec written from it does not carry (it is new at each start)."""
    return ["--port", str(lab.servers[host].port)]


def full(binding: dict[str, Any]) -> dict[str, Any]:
    """A lab binding with every setting at its value (the lab stores only the ones it was given)."""
    out: dict[str, Any] = {
        **default_settings(),
        **{k: v for k, v in binding.items() if k in SETTINGS_BY_NAME},
    }
    return {k: (v.lower() if k in ("certhash", "appid") else v) for k, v in out.items()}


def key_of(binding: dict[str, Any]) -> str:
    kind = next(k for k in ("ipport", "hostnameport", "ccs", "scopedccs") if k in binding)
    return f"{kind}={binding[kind]}"


def test_import_then_plan_finds_nothing_to_do(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.bindings(host)
        spec = tmp_path / "imported.yaml"
        imported = lab.sslbind("import", "--host", host, *connection_args(lab, host), "-o", str(spec))
        assert imported.exit_code == 0, imported.output
        assert f"imported {len(before)} binding(s)" in imported.stderr
        assert lab.bindings(host) == before  # import is read-only
        warnings = [line for line in imported.stderr.splitlines() if line.startswith("warning: ")]
        assert any("ipport=0.0.0.0:443: HTTP.sys looks up IP:port bindings first" in w for w in warnings)
        assert any(w.startswith("warning: ipport=0.0.0.0:443: certificate " + OLD_CERT) and "expires on" in w
                   for w in warnings)  # fmt: skip
        assert any(
            w.startswith("warning: ipport=0.0.0.0:8443: certificate ") and "expired on" in w for w in warnings
        )

        document = yaml.safe_load(spec.read_text())
        (target,) = document["targets"]
        assert (
            target["host"] == host and "port" not in target["connection"]
        )  # the lab's port is the session's
        assert (
            f"# connection.port {lab.servers[host].port} is not written: {host} is loopback"
            in spec.read_text()
        )
        got = {key_of(b): {k: v for k, v in b.items() if k not in ("mode",) and k != key_of(b).split("=")[0]}
               for b in target["bindings"]}  # fmt: skip
        assert all(b["mode"] == "exact" for b in target["bindings"])
        assert got == {key_of(b): full(b) for b in before}

        planned = lab.plan(spec, *lab_port(lab, host))
        assert planned.exit_code == 0, planned.output  # the imported spec is the host as it is


def test_rotate_then_apply_keeps_every_setting_but_the_hash(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = {key_of(b): full(b) for b in lab.bindings(host)}
        current = tmp_path / "current.yaml"
        assert (
            lab.sslbind("import", "--host", host, *connection_args(lab, host), "-o", str(current)).exit_code
            == 0
        )
        rotated = tmp_path / "rotate.yaml"
        result = lab.sslbind(
            "rotate", "--from", OLD_CERT, "--to", NEW_CERT, "--spec", str(current), "-o", str(rotated)
        )
        assert result.exit_code == 0, result.output
        changing = sorted(k for k, b in before.items() if b.get("certhash") == OLD_CERT)
        assert changing and all(f"change {host} {k}:" in result.stderr for k in changing)

        change_id = yaml.safe_load(rotated.read_text())["change"]["id"]
        assert lab.plan(rotated, *lab_port(lab, host)).exit_code == 3
        applied = lab.apply(change_id, *lab_port(lab, host))
        assert applied.exit_code == 0, applied.output

        after = {key_of(b): full(b) for b in lab.bindings(host)}
        assert set(after) == set(before)
        for key, old in before.items():
            expected = {**old, "certhash": NEW_CERT} if key in changing else old
            assert after[key] == expected, key


def test_live_rotate_preflights_the_new_certificate(pwsh: str, tmp_path: Path) -> None:
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = {key_of(b): full(b) for b in lab.bindings(host)}
        live = ["--host", host, *connection_args(lab, host)]

        no_key = lab.sslbind("rotate", "--from", OLD_CERT, "--to", NO_KEY_CERT, *live)
        assert no_key.exit_code == 2, no_key.output
        assert "no private key" in no_key.stderr and "not found in LocalMachine\\WebHosting" in no_key.stderr
        client_only = lab.sslbind("rotate", "--from", OLD_CERT, "--to", CLIENT_AUTH_CERT, *live)
        assert client_only.exit_code == 2 and "server authentication" in client_only.stderr
        too_soon = lab.sslbind("rotate", "--from", OLD_CERT, "--to", NEW_CERT, "--min-days", "400", *live)
        assert too_soon.exit_code == 2 and "within --min-days 400" in too_soon.stderr

        rotated = tmp_path / "rotate.yaml"
        result = lab.sslbind("rotate", "--from", OLD_CERT, "--to", NEW_CERT, *live, "-o", str(rotated))
        assert result.exit_code == 0, result.output
        assert f"certificate {NEW_CERT}: checked on {host}" in result.stderr
        change_id = yaml.safe_load(rotated.read_text())["change"]["id"]
        assert lab.plan(rotated, *lab_port(lab, host)).exit_code == 3
        assert lab.apply(change_id, *lab_port(lab, host)).exit_code == 0
        after = {key_of(b): full(b) for b in lab.bindings(host)}
        for key, old in before.items():
            expected = {**old, "certhash": NEW_CERT} if old.get("certhash") == OLD_CERT else old
            assert after[key] == expected, key


def test_live_import_reads_a_binding_with_an_extra_flag_bit(pwsh: str, tmp_path: Path) -> None:
    def extra_bit(state: dict[str, Any]) -> None:
        state["bindings"][0]["registry"] = {"DefaultFlags": 0x8000}  # 0.0.0.0:443 sets no other flag

    with lab_hosts(tmp_path, pwsh, edit=extra_bit) as lab:
        host = lab.hosts[0]
        before = {key_of(b): full(b) for b in lab.bindings(host)}
        spec = tmp_path / "imported.yaml"
        imported = lab.sslbind("import", "--host", host, *connection_args(lab, host), "-o", str(spec))
        assert imported.exit_code == 0, imported.output
        warning = (
            "ipport=0.0.0.0:443: DefaultFlags carries 0x8000 ENABLE_CACHE_CLIENT_HELLO (netsh: Enable "
            "Caching Client Hello): no netsh parameter can set it, so sslbind refuses a change that "
            "deletes and re-adds this binding"
        )
        assert f"warning: {warning}" in imported.stderr.splitlines()
        text = spec.read_text()
        assert f'- ipport: "0.0.0.0:443"\n        # WARNING: {warning.split(": ", 1)[1]}\n' in text
        (target,) = yaml.safe_load(text)["targets"]
        got = {key_of(b): {k: v for k, v in b.items() if k != "mode" and k != key_of(b).split("=")[0]}
               for b in target["bindings"]}  # fmt: skip
        assert got == before  # every binding read, the one with the extra bit included

        live = ["--host", host, *connection_args(lab, host)]
        rotated = lab.sslbind(
            "rotate", "--from", OLD_CERT, "--to", NEW_CERT, *live, "-o", str(tmp_path / "r.yaml")
        )
        assert rotated.exit_code == 0, rotated.output  # a rotation of it is written, and its refusal foretold
        assert f"warning: {warning}" in rotated.stderr.splitlines()


def test_a_hostile_certificate_subject_is_escaped_and_the_spec_renders(pwsh: str, tmp_path: Path) -> None:
    """Adversarial run 2, N2/N3: ESC sequences in a subject reached the terminal and the spec's
    comments raw, and render then refused the imported spec."""
    evil = "\x1b]0;PWNED\x1b\\\x1b[2J\x00<b>"

    def hostile(state: dict[str, Any]) -> None:
        for cert in state["certificates"]:
            cert["subject"] = "CN=api.contoso.com " + evil

    with lab_hosts(tmp_path, pwsh, edit=hostile) as lab:
        host = lab.hosts[0]
        spec = tmp_path / "imported.yaml"
        imported = lab.sslbind("import", "--host", host, *connection_args(lab, host), "-o", str(spec))
        assert imported.exit_code == 0, imported.output
        text = spec.read_text(encoding="utf-8")
        for shown in (imported.output, text):
            assert "\x1b" not in shown and "\x00" not in shown
        assert "\\x1b]0;PWNED" in imported.stderr and "\\x1b]0;PWNED" in text
        rendered = lab.sslbind("render", str(spec), "-o", str(tmp_path / "out"))
        assert rendered.exit_code == 0, rendered.output
        planned = lab.plan(
            spec, *lab_port(lab, host)
        )  # the host's capture of those certificates, on the terminal
        assert planned.exit_code == 0, planned.output
        assert "\x1b" not in planned.output and "\x00" not in planned.output
