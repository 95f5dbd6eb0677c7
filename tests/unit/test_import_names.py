"""import and rotate name the change as told (--change-id, --title, --description, checked as a
spec's change is), and a spec written from a loopback host (the lab) carries no port."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.importers.netsh_text import read_netsh
from generator.importers.rotate import plan_rotation, rotation_spec
from generator.importers.spec_writer import ChangeNames, import_spec, spec_connection
from generator.model import Connection, Target
from generator.spec import load_spec, parse_spec
from generator.workflow import render_record

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
OLD = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
NEW = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
NAMES = ["--change-id", "CHG0042", "--title", "Adopt web22 as it is", "--description", "Ticket 42: first day"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    return line


def test_import_takes_the_change_id_title_and_description(tmp_path: Path) -> None:
    out = tmp_path / "web22.yaml"
    netsh = str(FIXTURES / "netsh-2022-en.txt")
    result = run("import", "--from-netsh", netsh, "--host", "web22", *NAMES, "-o", str(out))
    assert result.exit_code == 0, result.output
    change = load_spec(out)
    assert (change.id, change.title, change.description) == (
        "CHG0042",
        "Adopt web22 as it is",
        "Ticket 42: first day",
    )
    record = render_record(out, tmp_path / "records")
    assert record.name == "CHG0042"
    assert "Ticket 42: first day" in (record / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--change-id", "CHG 42", "--change-id: must start with a letter or digit"),
        ("--change-id", "CON", "--change-id: 'CON' cannot name a folder on Windows"),
        ("--title", "Zürich", "--title: 'ü' at position 2 is not ASCII"),
        ("--title", " ", "--title: is empty"),
        ("--description", "one\x1b[2Jtwo", "--description: line 1 of the text has a control"),
    ],
)
def test_import_and_rotate_refuse_a_name_the_spec_would_refuse(
    tmp_path: Path, option: str, value: str, reason: str
) -> None:
    netsh = str(FIXTURES / "netsh-2022-en.txt")
    imported = run("import", "--from-netsh", netsh, option, value, "-o", str(tmp_path / "a.yaml"))
    assert one_line_error(imported).startswith(f"sslbind: {reason}")
    spec = tmp_path / "spec.yaml"
    spec.write_text(import_spec(read_netsh(FIXTURES / "netsh-2022-en.txt"), "web22"))
    rotated = run("rotate", "--from", OLD, "--to", NEW, "--spec", str(spec), option, value)
    assert one_line_error(rotated).startswith(f"sslbind: {reason}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]  # nothing written


def _changed(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "-+" and not line.startswith(("---", "+++"))]


def test_rotate_spec_sets_names_and_adds_a_description_in_the_specs_style(tmp_path: Path) -> None:
    block = import_spec(read_netsh(FIXTURES / "netsh-2022-en.txt"), "web22")
    flow = (
        "version: 1\n"
        "change: {id: CHG1, title: flow spec}\n"
        "targets:\n"
        f"  - {{host: web22, bindings: [{{ipport: 0.0.0.0:443, certhash: {OLD}, appid: '{APPID}'}}]}}\n"
    )
    for name, text in (("block.yaml", block), ("flow.yaml", flow)):
        spec = tmp_path / name
        spec.write_text(text)
        out = tmp_path / f"rotated-{name}"
        result = run("rotate", "--from", OLD, "--to", NEW, "--spec", str(spec), *NAMES, "-o", str(out))
        assert result.exit_code == 0, result.output
        change = load_spec(out)
        assert (change.id, change.title, change.description) == (
            "CHG0042",
            "Adopt web22 as it is",
            "Ticket 42: first day",
        )
        assert "change id CHG0042" in result.stderr
    assert _changed(block, (tmp_path / "rotated-block.yaml").read_text())[:4] == [
        '-  id: "import-web22"',
        '-  title: "Adopt the SSL bindings of web22 as imported from netsh-2022-en.txt"',
        '+  description: "Ticket 42: first day"',
        '+  id: "CHG0042"',
    ]
    flow_change = (tmp_path / "rotated-flow.yaml").read_text().splitlines()[1]
    assert (
        flow_change
        == 'change: {"description": "Ticket 42: first day", id: CHG0042, title: "Adopt web22 as it is"}'
    )
    # A description already there is replaced, and rotating again keeps the one given.
    again = run("rotate", "--from", NEW, "--to", OLD, "--spec", str(tmp_path / "rotated-flow.yaml"))
    assert again.exit_code == 0, again.output
    assert parse_spec(again.stdout.encode(), "again.yaml").description == "Ticket 42: first day"
    replaced = run(
        "rotate",
        "--from",
        NEW,
        "--to",
        OLD,
        "--spec",
        str(tmp_path / "rotated-flow.yaml"),
        "--description",
        "new",
    )
    assert parse_spec(replaced.stdout.encode(), "r.yaml").description == "new"


def test_a_loopback_hosts_port_is_left_out_and_said_a_remote_hosts_is_kept() -> None:
    lab = Connection(protocol="http", port=43817, auth="basic", username="lab", message_encryption="never")
    written, note = spec_connection("127.0.0.1", lab)
    assert written == {"protocol": "http", "auth": "basic", "username": "lab", "message_encryption": "never"}
    assert note == [
        "connection.port 43817 is not written: 127.0.0.1 is loopback (the lab takes a new port each start); "
        "give --port to plan, apply, verify and rollback, or add `port: 43817` under connection."
    ]
    assert spec_connection("::1", lab)[0] == written
    remote = Connection(port=5999, username="CONTOSO\\svc")
    assert spec_connection("web01.contoso.local", remote) == ({"port": 5999, "username": "CONTOSO\\svc"}, [])
    assert spec_connection("localhost", Connection()) == ({}, [])  # nothing to leave out, nothing said

    result = read_netsh(FIXTURES / "netsh-2022-en.txt")
    text = import_spec(result, "127.0.0.1", lab, names=ChangeNames(id="CHG7"))
    assert "# connection.port 43817 is not written: 127.0.0.1 is loopback" in text
    (target,) = parse_spec(text.encode(), "lab.yaml").targets
    assert target.connection.port == 5985 and target.connection.protocol == "http"  # http's default

    plan = plan_rotation([Target("127.0.0.1", lab, result.bindings)], OLD, NEW)
    rotated = rotation_spec([Target("127.0.0.1", lab, result.bindings)], plan, "live host 127.0.0.1")
    assert "43817" not in rotated.split("# connection.port 43817 is not written")[1].split("\n", 1)[1]
    assert parse_spec(rotated.encode(), "r.yaml").targets[0].connection.auth == "basic"


def test_the_example_spec_carries_no_placeholder_into_the_record_readme(tmp_path: Path) -> None:
    record = render_record(ROOT / "examples" / "renew-api.yaml", tmp_path)
    readme = (record / "README.md").read_text(encoding="utf-8")
    assert "optional free text" not in readme
    assert load_spec(ROOT / "examples" / "renew-api.yaml").description.split()[0] in readme
