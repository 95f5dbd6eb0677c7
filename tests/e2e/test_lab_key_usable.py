"""A certificate whose private key HTTP.sys cannot use (`"key_usable": false`): Windows still says
HasPrivateKey, yet every netsh add or update naming it (certhash + store) fails with 1312."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool

from generator.lab.sample import IIS_APPID, OLD_CERT, sample_state
from generator.lab.server import LabServer
from generator.lab.simwin import certs, netsh
from generator.lab.state import LabStateError, StateFile
from tests.e2e.conftest import read_state, write_state, wsman

# Its key lives in a user profile (or its ACL lacks SYSTEM): usable in My only.
PROFILE_KEY_CERT = "a11ce0fa11ce0fa11ce0fa11ce0fa11ce0fa11ce"
ADD_1312 = (
    "SSL Certificate add failed, Error: 1312\n"
    "A specified logon session does not exist. It may already have been terminated.\n\n"
)
UPDATE_1312 = ADD_1312.replace("add failed", "update failed")


def with_profile_key_cert(state: dict[str, Any]) -> None:
    base = {"thumbprint": PROFILE_KEY_CERT, "subject": "CN=api.contoso.com", "has_private_key": True}
    state["certificates"].append({**base, "store": "WebHosting", "key_usable": False})
    state["certificates"].append({**base, "store": "My"})


@pytest.fixture
def store(tmp_path: Path) -> StateFile:
    state = sample_state()
    with_profile_key_cert(state)
    file = StateFile(tmp_path / "state.json")
    file.create(state)
    return file


def test_add_naming_the_unusable_certificate_is_1312_and_creates_nothing(store: StateFile) -> None:
    before = store.read()["bindings"]
    add = ["http", "add", "sslcert", "hostnameport=www.contoso.com:443", f"certhash={PROFILE_KEY_CERT}"]
    code, text = netsh.run([*add, f"appid={IIS_APPID}", "certstorename=WebHosting"], store)
    assert (code, text) == (1, ADD_1312)
    assert store.read()["bindings"] == before


def test_update_naming_it_is_1312_and_changes_nothing(store: StateFile) -> None:
    before = store.read()["bindings"]
    update = ["http", "update", "sslcert", "hostnameport=api.contoso.com:443", f"appid={IIS_APPID}"]
    code, text = netsh.run([*update, f"certhash={PROFILE_KEY_CERT}", "certstorename=webhosting"], store)
    assert (code, text) == (1, UPDATE_1312)
    assert store.read()["bindings"] == before


def test_the_same_thumbprint_in_a_store_where_its_key_works_is_accepted(store: StateFile) -> None:
    add = ["http", "add", "sslcert", "ipport=0.0.0.0:9443", f"certhash={PROFILE_KEY_CERT}"]
    code, text = netsh.run([*add, f"appid={IIS_APPID}"], store)  # no certstorename: MY
    assert (code, text.strip()) == (0, "SSL Certificate successfully added")


def test_the_certificate_store_still_reports_a_private_key(store: StateFile) -> None:
    item, _ = certs.lookup(store.read(), rf"Cert:\LocalMachine\WebHosting\{PROFILE_KEY_CERT}")
    assert item is not None and item["has_private_key"] is True
    assert "key_usable" not in item  # nothing on Windows shows it


@pytest.mark.parametrize("name", ["key_usable", "has_private_key", "server_auth"])
@pytest.mark.parametrize("value", ["false", 0, None])
def test_certificate_flags_must_be_booleans(tmp_path: Path, name: str, value: object) -> None:
    state = sample_state()
    state["certificates"][1][name] = value
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(LabStateError) as caught:
        StateFile(path).read()
    assert str(caught.value) == f"{path}: certificates[1].{name}: must be true or false"


# --- through pwsh, as the generated scripts see it

PROBE = r"""param([string]$Thumbprint, [string[]]$Netsh)
$cert = Get-Item -LiteralPath ('Cert:\LocalMachine\WebHosting\' + $Thumbprint)
$text = (& netsh @Netsh) -join "`n"
ConvertTo-Json -Compress @{ hasKey = $cert.HasPrivateKey; code = $LASTEXITCODE; text = $text }"""


@pytest.mark.lab
@pytest.mark.pwsh
def test_scripts_see_a_private_key_and_netsh_refuses_it(lab: LabServer) -> None:
    write_state(lab.state.path, with_profile_key_cert)
    update = ["http", "update", "sslcert", "hostnameport=api.contoso.com:443", f"appid={IIS_APPID}"]
    update += [f"certhash={PROFILE_KEY_CERT}", "certstorename=WebHosting"]
    with RunspacePool(wsman(lab)) as pool:
        ps = PowerShell(pool)
        ps.add_script(PROBE).add_parameters({"Thumbprint": PROFILE_KEY_CERT, "Netsh": update})
        output = ps.invoke()
        assert ps.state == PSInvocationState.COMPLETED, [str(e) for e in ps.streams.error]
    result = json.loads(output[-1])
    assert (result["hasKey"], result["code"]) == (True, 1)
    assert result["text"].splitlines() == UPDATE_1312.splitlines()[:2]
    (sni,) = [b for b in read_state(lab.state.path)["bindings"] if "hostnameport" in b]
    assert sni["certhash"] == OLD_CERT
