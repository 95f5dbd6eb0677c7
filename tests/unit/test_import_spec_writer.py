"""Imported bindings -> spec: loads with generator.spec, means the same bindings, byte-deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.binding import KeyKind
from generator.importers.netsh_text import read_netsh
from generator.importers.reg_text import read_reg
from generator.importers.result import ImportResult
from generator.importers.spec_writer import PLACEHOLDER_HOST, change_id_for, import_spec, scalar
from generator.model import Binding, BindingKey
from generator.spec import parse_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
NETSH = sorted(p.name for p in FIXTURES.glob("netsh-*.txt"))
REG = ["reg-query-2022.txt", "reg-export-2016.reg"]


def read(name: str) -> ImportResult:
    return read_reg(FIXTURES / name) if name.startswith("reg-") else read_netsh(FIXTURES / name)


@pytest.mark.parametrize("name", NETSH + REG)
def test_spec_loads_and_means_the_imported_bindings(name: str) -> None:
    result = read(name)
    text = import_spec(result, "web01.contoso.local")
    change = parse_spec(text.encode(), "imported.yaml")
    (target,) = change.targets
    assert target.host == "web01.contoso.local"
    loaded = {b.key: (b.mode, dict(b.settings)) for b in target.bindings}
    imported = {b.key: ("exact", dict(b.settings)) for b in result.bindings}
    assert loaded == imported
    assert import_spec(result, "web01.contoso.local") == text  # deterministic


def test_netsh_and_reg_of_one_host_write_the_same_spec_body() -> None:
    def body(text: str) -> list[str]:
        # comments differ: netsh shows Extended Properties, the registry export does not
        lines = text.splitlines()
        return [line for line in lines if not line.lstrip().startswith("#") and "title:" not in line]

    netsh = import_spec(read("netsh-2022-en.txt"), "web22")
    reg = import_spec(read("reg-query-2022.txt"), "web22")
    assert body(netsh) == body(reg)


def test_header_names_source_omissions_and_warnings() -> None:
    text = import_spec(read("netsh-2022-en.txt"))
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0] == "# Imported by sslbind from netsh-2022-en.txt (netsh http show sslcert (en), utf-8)."
    assert any(line.startswith("# Source sha256: ") for line in header)
    assert any(PLACEHOLDER_HOST in line for line in header)
    # Extended Properties are carried under their binding, not listed as not imported
    assert "# Not imported (review before applying):" not in header
    assert any(line.startswith("# Extended Properties: 20 block(s) on 4 binding(s)") for line in header)
    note = (
        "        # NOTE: Extended Properties (line 31) PropertyId 0 (HTTP/2 receive window): Receive Window "
        "1048576; as a plain `netsh http add sslcert` leaves it, so a delete+add keeps it"
    )
    assert note in text.splitlines()
    assert any("HTTP.sys looks up IP:port bindings first" in line for line in header)
    assert f'host: "{PLACEHOLDER_HOST}"' in text
    assert yaml.safe_load(text)["change"]["id"] == f"import-{PLACEHOLDER_HOST}"


def test_a_registry_import_says_it_cannot_show_extended_properties() -> None:
    note = "Extended Properties (HTTP/2 window and settings limits) are not in this source"
    assert note in import_spec(read("reg-query-2022.txt"), "h")
    assert note not in import_spec(read("netsh-2022-en.txt"), "h")


def test_unverified_language_is_flagged() -> None:
    assert "constructed translation" in import_spec(read("netsh-de.txt"), "h")
    assert "constructed translation" not in import_spec(read("netsh-2019-en.txt"), "h")


@pytest.mark.parametrize(
    "value", ["0123456789012345678901234567890123456789", "off", "yes", "1e5", "a: b", "#x"]
)
def test_scalars_read_back_as_the_same_string(value: str) -> None:
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


def test_change_id_is_a_valid_id() -> None:
    assert change_id_for("import", "Web 01/contoso") == "import-Web-01-contoso"
    assert len(change_id_for("import", "x" * 100)) == 64


def test_scopedccs_binding_round_trips() -> None:
    binding = Binding(
        BindingKey(KeyKind.SCOPEDCCS, "www.contoso.com:443"),
        dict(read("netsh-2022-en.txt").bindings[3].settings),
        mode="exact",
    )
    result = ImportResult("s.txt", "0" * 64, "test", "utf-8", (binding,))
    change = parse_spec(import_spec(result, "h").encode(), "s.yaml")
    assert change.targets[0].bindings[0].key == binding.key


@pytest.mark.parametrize("name", ["netsh-2022-en.txt", "reg-export-2016.reg"])
def test_imported_spec_renders_a_change_record(tmp_path: Path, name: str) -> None:
    from generator.workflow import render_record

    spec = tmp_path / "imported.yaml"
    spec.write_text(import_spec(read(name), "web01.contoso.local"), encoding="utf-8")
    record = render_record(spec, tmp_path / "out")
    assert (record / "hosts" / "web01.contoso.local" / "apply.ps1").is_file()
