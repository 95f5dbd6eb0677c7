"""TLS certificate validation is on by default: an untrusted lab certificate is a TLS failure until
its CA is given with --ca-cert (or, with a warning, validation is turned off)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli
from generator.lab.server import LabServer
from tests.e2e.conftest import PASSWORD, USER, write_state
from tests.e2e.test_remote_harness import swap_to_new

# Each test runs several pwsh pipelines through the lab; on a loaded 2-core machine that is slow.
pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]


def test_https_validates_the_lab_certificate(pwsh: str, tmp_path: Path) -> None:
    state = write_state(tmp_path / "state.json")
    with LabServer(state, USER, PASSWORD, https=True, pwsh=pwsh) as lab:
        assert lab.ca_cert is not None
        spec = tmp_path / "tls.yaml"
        document = {
            "version": 1,
            "change": {"id": "CHG0000400", "title": "tls"},
            "connection": {"protocol": "https", "port": lab.port, "auth": "basic", "username": USER},
            "targets": [{"host": "127.0.0.1", "bindings": swap_to_new()}],
        }
        spec.write_text(yaml.safe_dump(document, sort_keys=False))
        out = str(tmp_path / "out")

        def plan(*extra: str) -> tuple[int, str, dict[str, object]]:
            result = CliRunner().invoke(
                cli, ["plan", str(spec), "-o", out, "--json", *extra], env={"SSLBIND_PASSWORD": PASSWORD}
            )
            return result.exit_code, result.stderr, json.loads(result.stdout)

        code, _, document_out = plan()
        assert code == 1
        host = document_out["hosts"][0]  # type: ignore[index]
        assert host["status"] == "error" and host["summary"].startswith("127.0.0.1: TLS failure: ")

        code, _, _ = plan("--ca-cert", str(lab.ca_cert))
        assert code == 3

        code, stderr, _ = plan("--cert-validation", "ignore")
        assert code == 3
        assert "TLS certificate validation is OFF" in stderr
