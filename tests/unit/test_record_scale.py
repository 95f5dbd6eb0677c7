"""Records that render are records the other commands accept (adversarial run 2, N5): a change.yaml
of 5,000 hosts x 20 bindings is larger than the 16 MiB a spec may be, and plan and report read it,
because its sha256 is the manifest's. A change.yaml that large which is not the manifest's is still
refused by the spec's cap.

Built cheaply: a real 1-host, 20-binding record is rendered, and its change.yaml is grown to 5,000
hosts as text (the normalized layout: one line per binding), with the manifest's sha256 updated,
once per module. plan is run for one host on a loopback port that refuses connections, which is
enough to show that the whole record was read.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli
from generator.errors import SPEC_MAX_BYTES
from generator.record import sha256_hex
from generator.workflow import render_record

HOSTS = 5000
BINDINGS = 20
CERT = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.fixture(scope="module")
def big_record(tmp_path_factory: pytest.TempPathFactory, closed_port: int) -> Path:
    folder = tmp_path_factory.mktemp("scale")
    bindings = [
        {
            "ipport": f"10.0.{i}.1:443",
            "certhash": CERT,
            "appid": APPID,
            "verifyclientcertrevocation": "disable",
        }
        for i in range(BINDINGS)
    ]
    spec = {
        "version": 1,
        "change": {"id": "CHG0005000", "title": "5,000 hosts x 20 bindings"},
        "connection": {
            "protocol": "http",
            "port": closed_port,
            "auth": "basic",
            "username": "lab",
            "message_encryption": "never",
            "connection_timeout": 2,
        },
        "targets": [{"host": "127.0.0.1", "bindings": bindings}],
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    record = render_record(path, folder / "out")
    change = record / "change.yaml"
    text = change.read_text(encoding="utf-8")
    at = text.index("- host: 127.0.0.1\n")
    block = text[at:]
    others = "".join(
        block.replace("- host: 127.0.0.1\n", f"- host: 127.1.{i // 250}.{i % 250 + 1}\n", 1)
        for i in range(HOSTS - 1)
    )
    change.write_text(text + others, encoding="utf-8")
    assert change.stat().st_size > SPEC_MAX_BYTES
    manifest_path = record / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["change.yaml"] = sha256_hex(change.read_bytes())
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return record


def test_plan_reads_a_5000_by_20_record(big_record: Path) -> None:
    started = time.monotonic()
    args = ["plan", str(big_record), "--host", "127.0.0.1", "--json", "--timeout", "10", "--settle", "0"]
    result = CliRunner().invoke(cli, args, env={"SSLBIND_PASSWORD": "x"})
    document = json.loads(result.stdout)
    assert result.exit_code == 1, result.output  # the host refused the connection; the record was read
    assert [h["host"] for h in document["hosts"]] == ["127.0.0.1"]
    assert document["hosts"][0]["status"] == "error"
    assert "16 MiB" not in result.output
    assert time.monotonic() - started < 60


def test_report_reads_a_5000_by_20_record(big_record: Path, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    result = CliRunner().invoke(cli, ["report", str(big_record), "-o", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "127.1.19.249" in html and html.count("ipport=10.0.19.1:443") == HOSTS


def test_a_large_change_yaml_that_is_not_the_manifests_is_refused(big_record: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(big_record, tmp_path / "copy"))
    with (copy / "change.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    result = CliRunner().invoke(cli, ["report", str(copy), "-o", str(tmp_path / "page.html")])
    assert result.exit_code == 2, result.output
    assert "is larger than 16 MiB, the limit for a spec" in result.stderr
