"""`rotate --spec` keeps the user's spec: only certhash (and certstorename with --to-store), the change
id and the title change; mode, defaults, connection, every setting, comments and order stay."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.importers.netsh_text import read_netsh
from generator.importers.rotate import RotationError, plan_rotation
from generator.importers.rotate_spec import _check_only_intended, rotate_spec
from generator.importers.spec_writer import import_spec
from generator.spec import parse_spec
from generator.workflow import render_record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
OLD = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
NEW = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"
OTHER = "b" * 40
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"


def changed_lines(before: str, after: str) -> list[str]:
    """The -/+ lines of a line diff, without the file headers."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]


def imported_spec() -> str:
    """An exact spec as `sslbind import` writes it, with the placeholder host named as a user would."""
    text = import_spec(read_netsh(FIXTURES / "netsh-2022-en.txt"))
    return text.replace("replace-me.invalid", "web01.contoso.local")


def test_rotating_an_imported_exact_spec_changes_only_certhash_id_and_title() -> None:
    before = imported_spec()
    rotation = rotate_spec(before.encode(), "web01.yaml", OLD, NEW)
    assert changed_lines(before, rotation.text) == [
        '-  id: "import-web01.contoso.local"',
        '-  title: "Adopt the SSL bindings of web01.contoso.local as imported from netsh-2022-en.txt"',
        '+  id: "import-web01.contoso.local-rotate-8f2c0a4e"',
        '+  title: "Rotate certificate 40db5bb1 to 8f2c0a4e on 2 binding(s): Adopt the SSL bindings of '
        'web01.contoso.local as imported from netsh-2022-en.txt"',
        f'-        certhash: "{OLD}"',
        f'+        certhash: "{NEW}"',
        f'-        certhash: "{OLD}"',
        f'+        certhash: "{NEW}"',
    ]
    assert [str(i) for i in rotation.plan.changes] == [
        "web01.contoso.local ipport=0.0.0.0:443",
        "web01.contoso.local hostnameport=api.contoso.com:443",
    ]
    rotated = parse_spec(rotation.text.encode(), "rotated.yaml")
    assert {b.mode for b in rotated.targets[0].bindings} == {"exact"}


def test_the_rotated_spec_renders_the_full_exact_command_with_every_kept_setting(tmp_path: Path) -> None:
    rotation = rotate_spec(imported_spec().encode(), "web01.yaml", OLD, NEW)
    spec = tmp_path / "rotated.yaml"
    spec.write_text(rotation.text, "utf-8")
    readme = (render_record(spec, tmp_path / "out") / "README.md").read_text("utf-8")
    add = next(line for line in readme.splitlines() if "netsh http add sslcert ipport=0.0.0.0:443" in line)
    for setting in (
        f"certhash={NEW}",
        "certstorename=My",
        "verifyclientcertrevocation=disable",
        "disablehttp2=enable",
        "disablelegacytls=enable",
    ):
        assert setting in add, (setting, add)
    assert OLD not in add


FLOW_SPEC = f"""# yaml-language-server: $schema=./sslbind.schema.json
version: 1
change: {{id: CHG1, title: current state}}   # reviewed 2026-11
connection: {{port: 5986, username: 'CONTOSO\\svc'}}
defaults: {{certstorename: My}}
targets:
  - host: web01.contoso.local
    connection: {{auth: kerberos}}
    bindings:
      # the public site
      - {{ipport: "0.0.0.0:443", certhash: {OLD.upper()}, appid: "{APPID}",
          verifyclientcertrevocation: disable, mode: exact}}
      - {{hostnameport: "api.contoso.com:443", certhash: '{OLD}', certstorename: WebHosting}}
      - {{ipport: "0.0.0.0:8443", certhash: {OTHER}}}
      - ipport: 0.0.0.0:9443
        certhash: {OLD}   # plain, with a comment
        usagecheck: disable
"""


def test_flow_and_block_styles_quoting_case_and_comments_are_kept() -> None:
    rotation = rotate_spec(FLOW_SPEC.encode(), "current.yaml", OLD, NEW)
    assert changed_lines(FLOW_SPEC, rotation.text) == [
        "-change: {id: CHG1, title: current state}   # reviewed 2026-11",
        "+change: {id: CHG1-rotate-8f2c0a4e, title: "
        '"Rotate certificate 40db5bb1 to 8f2c0a4e on 3 binding(s): current state"}   # reviewed 2026-11',
        f'-      - {{ipport: "0.0.0.0:443", certhash: {OLD.upper()}, appid: "{APPID}",',
        f'+      - {{ipport: "0.0.0.0:443", certhash: {NEW.upper()}, appid: "{APPID}",',
        f"-      - {{hostnameport: \"api.contoso.com:443\", certhash: '{OLD}', certstorename: WebHosting}}",
        f"+      - {{hostnameport: \"api.contoso.com:443\", certhash: '{NEW}', certstorename: WebHosting}}",
        f"-        certhash: {OLD}   # plain, with a comment",
        f"+        certhash: {NEW}   # plain, with a comment",
    ]


def test_a_certhash_in_defaults_is_changed_there_and_other_bindings_keep_theirs() -> None:
    spec = f"""version: 1
change: {{id: CHG2, title: t}}
defaults:
  certhash: {OLD}
  certstorename: My
targets:
  - host: web01
    bindings:
      - ipport: 0.0.0.0:443
      - ipport: 0.0.0.0:444
      - ipport: 0.0.0.0:8443
        certhash: {OTHER}
"""
    rotation = rotate_spec(spec.encode(), "s.yaml", OLD, NEW)
    assert [line for line in changed_lines(spec, rotation.text) if "certhash" in line] == [
        f"-  certhash: {OLD}",
        f"+  certhash: {NEW}",
    ]
    bindings = parse_spec(rotation.text.encode(), "s.yaml").targets[0].bindings
    assert [b.settings["certhash"] for b in bindings] == [NEW, NEW, OTHER]


def test_to_store_sets_the_store_of_the_rotated_bindings_only() -> None:
    rotation = rotate_spec(FLOW_SPEC.encode(), "current.yaml", OLD, NEW, to_store="WebHosting")
    lines = changed_lines(FLOW_SPEC, rotation.text)
    assert (
        f'+      - {{ipport: "0.0.0.0:443", certhash: {NEW.upper()}, certstorename: WebHosting, '
        in (lines[3][: lines[3].index("appid")])
    )
    assert f"+        certhash: {NEW}   # plain, with a comment" in lines
    assert "+        certstorename: WebHosting" in lines  # its own line, after the certhash
    (api,) = [line for line in lines if line.startswith("+") and "api.contoso.com" in line]
    assert api.count("certstorename") == 1  # already in WebHosting: only its certhash changed
    stores = {
        str(b.key): b.settings.get("certstorename")
        for b in parse_spec(rotation.text.encode(), "r").targets[0].bindings
    }
    assert stores == {
        "ipport=0.0.0.0:443": "WebHosting",
        "hostnameport=api.contoso.com:443": "WebHosting",
        "ipport=0.0.0.0:8443": "My",  # not rotated: keeps the default
        "ipport=0.0.0.0:9443": "WebHosting",
    }
    assert [str(i) for i in rotation.moved_store] == [
        "web01.contoso.local ipport=0.0.0.0:443",
        "web01.contoso.local ipport=0.0.0.0:9443",
    ]


def test_crlf_bom_and_block_title_survive() -> None:
    spec = (
        "version: 1\r\nchange:\r\n  id: CHG3\r\n  title: >\r\n    a folded\r\n    title\r\n"
        f"targets:\r\n  - host: web01\r\n    bindings:\r\n      - ipport: 0.0.0.0:443\r\n"
        f"        certhash: {OLD}\r\n"
    )
    rotation = rotate_spec(b"\xef\xbb\xbf" + spec.encode(), "s.yaml", OLD, NEW, to_store="WebHosting")
    assert rotation.text.startswith("\ufeffversion: 1\r\n")
    assert "\n" not in rotation.text.replace("\r\n", "")
    assert f"        certhash: {NEW}\r\n        certstorename: WebHosting\r\n" in rotation.text
    change = parse_spec(rotation.text.encode(), "s.yaml")
    assert change.title == "Rotate certificate 40db5bb1 to 8f2c0a4e on 1 binding(s): a folded title"
    assert change.id == "CHG3-rotate-8f2c0a4e"


def test_rotating_again_replaces_the_id_suffix() -> None:
    once = rotate_spec(FLOW_SPEC.encode(), "a.yaml", OLD, NEW).text
    twice = rotate_spec(once.encode(), "b.yaml", NEW, OTHER.replace("b", "c"))
    assert parse_spec(twice.text.encode(), "b").id == "CHG1-rotate-cccccccc"


def test_a_rotation_that_would_change_anything_else_is_refused() -> None:
    """The safety net: the edited spec is parsed again and compared binding by binding."""
    before = parse_spec(FLOW_SPEC.encode(), "current.yaml")
    plan = plan_rotation(before.targets, OLD, NEW)
    tampered = FLOW_SPEC.replace(f"certhash: {OTHER}", f"certhash: {NEW}").replace(OLD.upper(), NEW)
    tampered = tampered.replace(f"'{OLD}'", f"'{NEW}'").replace(f"certhash: {OLD}", f"certhash: {NEW}")
    after = parse_spec(tampered.encode(), "current.yaml")
    with pytest.raises(RotationError, match=r"web01.contoso.local ipport=0.0.0.0:8443: rotating would also"):
        _check_only_intended(before, after, plan, None, "current.yaml")
    _check_only_intended(
        before,
        parse_spec(tampered.replace(f"certhash: {NEW}}}", f"certhash: {OTHER}}}").encode(), "c"),
        plan,
        None,
        "c",
    )


def test_nothing_to_rotate_is_refused_like_before() -> None:
    with pytest.raises(RotationError, match="no binding uses this certificate") as caught:
        rotate_spec(FLOW_SPEC.encode(), "current.yaml", "c" * 40, NEW)
    assert caught.value.exit_code == 2


def test_cli_rotate_spec_writes_the_edited_spec(tmp_path: Path) -> None:
    spec = tmp_path / "web01.yaml"
    spec.write_text(imported_spec(), "utf-8")
    out = tmp_path / "rotated.yaml"
    result = CliRunner().invoke(
        cli, ["rotate", "--spec", str(spec), "--from", OLD, "--to", NEW, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(changed_lines(spec.read_text("utf-8"), out.read_text("utf-8"))) == 8
    assert "kept: mode, defaults, connection and every other setting" in result.stderr
    host_only = CliRunner().invoke(
        cli, ["rotate", "--host", "h", "--from", OLD, "--to", NEW, "--to-store", "My"]
    )
    assert host_only.exit_code == 2 and "--to-store works with --spec" in host_only.stderr
