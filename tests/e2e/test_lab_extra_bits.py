"""Registry bits no netsh parameter sets: the lab keeps them, shows only what netsh knows, and the
2025 layout prints "Enable Caching Client Hello" (DefaultFlags 0x8000)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.binding import REGISTRY_ROOT, SETTINGS_BY_NAME, SHOW_ORDER
from generator.lab.sample import sample_state
from generator.lab.server import LabServer
from generator.lab.simwin import netsh, registry
from generator.lab.state import LabStateError, StateFile
from tests.e2e.conftest import read_state, write_state, wsman

MAIN = "0.0.0.0:443"
MAIN_KEY = REGISTRY_ROOT + r"\SslBindingInfo" + "\\" + MAIN
HELLO = "    Enable Caching Client Hello  : Set"
NOT_HELLO = "    Enable Caching Client Hello  : Not Set"


def store_with(tmp_path: Path, raw: dict[str, Any] | None, layout: str = "2019") -> StateFile:
    state = sample_state()
    state["netsh"]["help_layout"] = layout
    if raw is not None:
        state["bindings"][0]["registry"] = raw
    store = StateFile(tmp_path / "state.json")
    store.create(state)
    return store


def show(store: StateFile, key: str = MAIN) -> list[str]:
    code, text = netsh.run(["http", "show", "sslcert", f"ipport={key}"], store)
    assert code == 0, text
    return text.splitlines()


def labels(lines: list[str]) -> list[str]:
    return [line.split(":")[0].strip() for line in lines[5:] if line.startswith("    ")]


def test_the_2025_layout_shows_client_hello_caching_after_the_other_flags(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"DefaultFlags": 0x8000}, layout="2025")
    lines = show(store)
    assert lines[-2:] == [HELLO, ""]
    order = [SETTINGS_BY_NAME[n].label for n in SHOW_ORDER]
    assert labels(lines) == [*order, "Enable Caching Client Hello"]
    assert "    Negotiate Client Certificate : Disabled" in lines  # 0x8000 is not 0x2
    assert NOT_HELLO in show(store, "0.0.0.0:8443")  # every binding gets the line on that build


@pytest.mark.parametrize("layout", ["2012r2", "2016", "2019", "de-2019"])
def test_other_layouts_do_not_know_the_label(tmp_path: Path, layout: str) -> None:
    lines = show(store_with(tmp_path, {"DefaultFlags": 0x8000}, layout=layout))
    assert not any("Client Hello" in line for line in lines)
    assert labels(lines) == [SETTINGS_BY_NAME[n].label for n in SHOW_ORDER]


@pytest.mark.parametrize("layout", ["2019", "2025"])
def test_other_extra_bits_are_not_shown_and_known_bits_read_back(tmp_path: Path, layout: str) -> None:
    plain = show(store_with(tmp_path / "a", None, layout))
    (tmp_path / "b").mkdir()
    extra = show(store_with(tmp_path / "b", {"DefaultFlags": 0x2000 | 0x4 | 0x40000 | 0x2}, layout))
    assert labels(extra) == labels(plain)
    changed = [(a, b) for a, b in zip(plain, extra, strict=True) if a != b]
    assert changed == [
        ("    Negotiate Client Certificate : Disabled", "    Negotiate Client Certificate : Enabled")
    ]


def test_any_uint32_check_mode_is_kept_and_read_as_int32(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"DefaultSslCertCheckMode": 0x80020000})
    assert "    Verify Client Certificate Revocation : Enabled" in show(store)  # bit 0x1 is clear
    (key, _) = registry.lookup(store.read(), MAIN_KEY)
    assert key is not None
    values = {v["name"]: v["value"] for v in key.to_json()["values"]}
    assert values["DefaultSslCertCheckMode"] == 0x80020000 - 2**32  # PowerShell's Int32 view


def test_a_registry_write_keeps_extra_bits_and_sets_the_known_ones(tmp_path: Path) -> None:
    store = store_with(tmp_path, None)
    with store.transaction() as state:
        entry = state["bindings"][0]
        registry.set_value(entry, "DefaultFlags", 0x8002)
        registry.set_value(entry, "DefaultSslCertCheckMode", 0x80000001)
    entry = store.read()["bindings"][0]
    assert entry["clientcertnegotiation"] == "enable"
    assert entry["verifyclientcertrevocation"] == "disable"
    assert entry["registry"] == {"DefaultFlags": 0x8002, "DefaultSslCertCheckMode": 0x80000001}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"DefaultFlags": -1}', "bindings[0]: registry.DefaultFlags: must be a number from 0 to 4294967295"),
        ('{"DefaultSslCertCheckMode": 4294967296}', "registry.DefaultSslCertCheckMode: must be a number"),
        ('{"DefaultFlags": "0x8000"}', "registry.DefaultFlags: must be a number"),
        ('{"DefaultFlags": true}', "registry.DefaultFlags: must be a number"),
        ("[8000]", "bindings[0]: registry: must be an object"),
    ],
)
def test_bad_raw_bit_fields_are_refused(tmp_path: Path, raw: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"bindings": [{"ipport": "0.0.0.0:443", "registry": ' + raw + "}]}", encoding="utf-8")
    with pytest.raises(LabStateError, match=re.escape(message)):
        StateFile(path).read()


def test_null_and_any_uint32_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    raw = '{"DefaultFlags": null, "DefaultSslCertCheckMode": 4294967295, "Other": "hex:0a"}'
    path.write_text('{"bindings": [{"ipport": "0.0.0.0:443", "registry": ' + raw + "}]}", encoding="utf-8")
    assert StateFile(path).read()["bindings"][0]["registry"]["DefaultSslCertCheckMode"] == 0xFFFFFFFF


# --- through pwsh


@pytest.fixture(scope="module")
def pool(lab: LabServer) -> Iterator[RunspacePool]:
    with RunspacePool(wsman(lab)) as opened:
        yield opened


ROUND_TRIP = r"""param([string]$Key)
$before = (Get-ItemProperty -LiteralPath $Key).DefaultSslCertCheckMode
Set-ItemProperty -LiteralPath $Key -Name DefaultFlags -Value ([int]-2147450878) -Type DWord
$show = & netsh http show sslcert ipport=0.0.0.0:443
ConvertTo-Json -Compress @{
    before = $before
    type = $before.GetType().FullName
    after = (Get-ItemProperty -LiteralPath $Key).DefaultFlags
    show = @($show)
}"""


@pytest.mark.lab
@pytest.mark.pwsh
def test_scripts_see_extra_bits_as_windows_powershell_would(pool: RunspacePool, lab: LabServer) -> None:
    def change(state: dict[str, Any]) -> None:
        state["bindings"][0]["registry"] = {"DefaultSslCertCheckMode": 0xFFFFFFFF}
        state["netsh"]["help_layout"] = "2025"

    write_state(lab.state.path, change)
    ps = PowerShell(pool)
    ps.add_script(ROUND_TRIP).add_parameter("Key", MAIN_KEY)
    output = ps.invoke()
    assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    result = json.loads(output[-1])
    assert (result["before"], result["type"]) == (-1, "System.Int32")
    assert result["after"] == 0x80008002 - 2**32
    assert HELLO in result["show"] and "    Negotiate Client Certificate : Enabled" in result["show"]
    entry = read_state(lab.state.path)["bindings"][0]
    assert entry["registry"]["DefaultFlags"] == 0x80008002 and entry["clientcertnegotiation"] == "enable"
    write_state(lab.state.path)
