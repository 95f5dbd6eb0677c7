"""`sslbind import` and `sslbind rotate` through click's CliRunner: exit codes, stdout, stderr, files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from generator.cli import cli
from generator.spec import load_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
OLD, NEW = "40db5bb1bf5659a155258d1d007c530fcb8996c2", "c" * 40


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(("sslbind: ", "Error: ")), result.stderr
    return lines[-1]


def test_import_netsh_to_stdout() -> None:
    result = run("import", "--from-netsh", str(FIXTURES / "netsh-2022-en.txt"), "--host", "web22")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Imported by sslbind from netsh-2022-en.txt")
    assert "imported 4 binding(s)" in result.stderr
    assert "warning: ipport=0.0.0.0:443: HTTP.sys looks up IP:port bindings first" in result.stderr
    # Extended Properties are carried as NOTEs in the spec: summed up, not listed as not imported
    assert "not imported:" not in result.stderr
    assert (
        "extended properties: 20 block(s) on 4 binding(s) written as NOTEs under their bindings; "
        "0 a delete+add would lose (warned)"
    ) in result.stderr
    assert "        # NOTE: Extended Properties (line 31) PropertyId 0" in result.stdout


def test_import_reg_to_new_file_then_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "web22.yaml"
    first = run(
        "import", "--from-reg", str(FIXTURES / "reg-query-2022.txt"), "--host", "web22", "-o", str(out)
    )
    assert first.exit_code == 0, first.output
    assert first.stdout == "" and f"wrote {out}" in first.stderr
    change = load_spec(out)
    assert len(change.targets[0].bindings) == 4
    before = out.read_bytes()
    again = run("import", "--from-reg", str(FIXTURES / "reg-query-2022.txt"), "-o", str(out))
    assert "already exists" in one_line_error(again)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([], "nothing to import"),
        (
            [
                "--from-netsh",
                str(FIXTURES / "netsh-2016-en.txt"),
                "--from-reg",
                str(FIXTURES / "reg-export-2016.reg"),
            ],
            "not both",
        ),
        (["--from-netsh", str(FIXTURES / "reg-query-2022.txt")], "no SSL binding found"),
        (["--from-reg", str(FIXTURES / "netsh-2016-en.txt")], "is this `reg query"),
        (["--from-netsh", str(FIXTURES / "netsh-de.txt"), "--encoding", "utf-8"], "not readable as utf-8"),
        (["--from-netsh", "missing.txt"], "does not exist"),
    ],
)
def test_import_bad_usage_or_input_exits_2(args: list[str], reason: str) -> None:
    assert reason in one_line_error(run("import", *args))


def test_live_import_of_an_unreachable_host_exits_1() -> None:
    args = ["--host", "127.0.0.1", "--port", "1", "--protocol", "http", "--auth", "basic", "--username", "u"]
    result = CliRunner().invoke(
        cli, ["import", *args, "--connection-timeout", "2"], env={"SSLBIND_PASSWORD": "x"}
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("sslbind: 127.0.0.1: unreachable")
    assert result.stdout == ""


def test_import_ambiguous_netsh_names_file_line_binding_setting(tmp_path: Path) -> None:
    text = (FIXTURES / "netsh-2016-en.txt").read_bytes().decode("ascii")
    bad = tmp_path / "bad.txt"
    bad.write_text(
        text.replace("Negotiate Client Certificate : Enabled", "Negotiate Client Certificate : Ja")
    )
    line = one_line_error(run("import", "--from-netsh", str(bad)))
    assert line == (
        f"sslbind: {bad}:32: hostnameport=shop.contoso.com:443: clientcertnegotiation: "
        "value 'Ja' is not a known on/off word"
    )


def test_import_extra_registry_bit_warns_and_comments_the_binding(tmp_path: Path) -> None:
    text = (FIXTURES / "reg-query-2022.txt").read_bytes().decode("utf-16")
    extra = tmp_path / "extra.txt"
    extra.write_text(
        text.replace("DefaultFlags    REG_DWORD    0x410", "DefaultFlags    REG_DWORD    0x8410")
    )
    out = tmp_path / "spec.yaml"
    result = run("import", "--from-reg", str(extra), "-o", str(out))
    assert result.exit_code == 0, result.output
    warning = (
        "ipport=0.0.0.0:443: line 12: DefaultFlags carries 0x8000 ENABLE_CACHE_CLIENT_HELLO (netsh: Enable "
        "Caching Client Hello): no netsh parameter can set it, so sslbind refuses a change that deletes and "
        "re-adds this binding"
    )
    assert f"warning: {warning}" in result.stderr.splitlines()
    spec = out.read_text()
    under_binding = spec.split('- ipport: "0.0.0.0:443"\n', 1)[1].splitlines()[0]
    assert under_binding == f"        # WARNING: {warning.split(': ', 1)[1]}"
    change = load_spec(out)  # still a valid spec, the settings the registry holds
    (binding,) = [b for b in change.targets[0].bindings if str(b.key) == "ipport=0.0.0.0:443"]
    assert binding.settings["disablelegacytls"] == "enable"


def test_rotate_writes_spec_and_report(tmp_path: Path) -> None:
    spec = tmp_path / "current.yaml"
    run("import", "--from-netsh", str(FIXTURES / "netsh-2022-en.txt"), "--host", "web22", "-o", str(spec))
    out = tmp_path / "rotate.yaml"
    result = run("rotate", "--from", OLD.upper(), "--to", NEW, "--spec", str(spec), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"change web22 ipport=0.0.0.0:443: certhash {OLD} -> {NEW}" in result.stderr
    assert f"change web22 hostnameport=api.contoso.com:443: certhash {OLD} -> {NEW}" in result.stderr
    assert "keep   web22 ipport=[::]:8443" in result.stderr
    assert f"certificate {NEW}: not checked offline" in result.stderr
    rotated = load_spec(out)  # the imported spec kept: every binding, mode exact, new certhash on two
    assert {str(b.key): (b.mode, b.settings.get("certhash")) for b in rotated.targets[0].bindings} == {
        "ipport=0.0.0.0:443": ("exact", NEW),
        "ipport=[::]:8443": ("exact", "1b6a3c0e9d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"),
        "hostnameport=api.contoso.com:443": ("exact", NEW),
        "ccs=443": ("exact", None),
    }


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--from", OLD, "--to", NEW], "give --spec FILE or --host HOST"),
        (["--from", OLD, "--to", NEW, "--host", "web01", "--spec", "SPEC"], "one of --spec and --host"),
        (["--from", OLD, "--to", OLD, "--spec", "SPEC"], "the same certificate"),
        (["--from", "xyz", "--to", NEW, "--spec", "SPEC"], "--from: 'xyz' is not a SHA-1 thumbprint"),
        (["--from", "d" * 40, "--to", NEW, "--spec", "SPEC"], "no binding uses this certificate"),
        (
            ["--from", OLD, "--to", NEW, "--spec", "SPEC", "--min-days", "-1"],
            "Invalid value for '--min-days'",
        ),
    ],
)
def test_rotate_bad_usage_exits_2(tmp_path: Path, args: list[str], reason: str) -> None:
    spec = tmp_path / "current.yaml"
    run("import", "--from-netsh", str(FIXTURES / "netsh-2019-en.txt"), "--host", "h", "-o", str(spec))
    args = [str(spec) if a == "SPEC" else a for a in args]
    assert reason in one_line_error(run("rotate", *args))


def test_rotate_bad_spec_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("version: 1\nchange: {id: X}\n")
    assert one_line_error(run("rotate", "--from", OLD, "--to", NEW, "--spec", str(spec))).startswith(
        "sslbind: "
    )


def test_import_reads_a_console_copy_without_its_last_line_break(tmp_path: Path) -> None:
    data = (FIXTURES / "netsh-2016-en.txt").read_bytes()
    copied, cut = tmp_path / "netsh-2016-en.txt", tmp_path / "cut.txt"  # same name: same title
    copied.write_bytes(data.rstrip(b"\r\n"))  # ends `Reject Connections : Disabled`
    cut.write_bytes(data.rstrip(b"\r\n")[:-3])  # ends `... : Disab`
    whole = run("import", "--from-netsh", str(FIXTURES / "netsh-2016-en.txt"), "--host", "web16")
    result = run("import", "--from-netsh", str(copied), "--host", "web16")
    assert result.exit_code == 0, result.output
    spec = result.stdout.split("version: 1\n", 1)[1]
    assert spec == whole.stdout.split("version: 1\n", 1)[1]  # the same spec below its header
    assert "the output stops inside this line ('Reject Connections" in one_line_error(
        run("import", "--from-netsh", str(cut))
    )
