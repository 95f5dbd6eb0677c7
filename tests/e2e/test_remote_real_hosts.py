"""What real Windows hosts do that the first lab did not, end to end through real pypsrp: netsh
help texts of every known layout and language, DefaultFlags bits no netsh parameter sets, the
unestablished check-mode bit 0x4, and scoped CCS bindings (no certhash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.lab.simwin.netsh_help import HELP_LAYOUTS
from tests.e2e.test_remote_harness import IIS_APPID, NEW_CERT, OLD_CERT, lab_hosts, swap_to_new

pytestmark = [pytest.mark.lab, pytest.mark.pwsh, pytest.mark.timeout(900)]


def _edit(**top: Any) -> Any:
    def edit(state: dict[str, Any]) -> None:
        for key, value in top.items():
            if key == "help_layout":
                state.setdefault("netsh", {})["help_layout"] = value
            elif key in ("main_registry", "main_extended"):
                main = next(b for b in state["bindings"] if b.get("ipport") == "0.0.0.0:443")
                main[key.removeprefix("main_")] = value
            else:
                state[key] = value

    return edit


@pytest.mark.parametrize("layout", [layout for layout in HELP_LAYOUTS if layout != "2019"])
def test_plan_reads_the_netsh_help_of_every_layout(pwsh: str, tmp_path: Path, layout: str) -> None:
    # the IP binding and the SNI binding: hostnameport must be found whatever the layout's words
    sni = {"hostnameport": "api.contoso.com:443", "certhash": NEW_CERT, "certstorename": "WebHosting"}
    bindings = [*swap_to_new(), sni]
    with lab_hosts(tmp_path, pwsh, edit=_edit(help_layout=layout)) as lab:
        planned = lab.plan(lab.spec("CHG0000400", bindings))
        assert planned.exit_code == 3, planned.output
        assert "does not list" not in planned.output


def test_a_flag_bit_netsh_cannot_set_is_read_and_verified_and_never_dropped(
    pwsh: str, tmp_path: Path
) -> None:
    with lab_hosts(tmp_path, pwsh, edit=_edit(main_registry={"DefaultFlags": 0x8000})) as lab:
        host = lab.hosts[0]
        before = lab.bindings(host)
        # already as desired: read, planned and verified with the bit in place
        same = [{"ipport": "0.0.0.0:443", "certhash": OLD_CERT}]
        assert lab.plan(lab.spec("CHG0000401", same)).exit_code == 0
        assert lab.sslbind("verify", str(lab.record("CHG0000401"))).exit_code == 0
        # a certificate swap would delete and re-add it without the bit: refused, nothing touched
        refused = lab.plan(lab.spec("CHG0000402", swap_to_new()), "--json")
        assert refused.exit_code == 1, refused.output
        reason = json.dumps(json.loads(refused.stdout)["hosts"][0])
        assert "0x8000 ENABLE_CACHE_CLIENT_HELLO" in reason
        assert "no netsh parameter can set" in reason
        assert lab.bindings(host) == before


def test_check_mode_bit_4_is_neither_refused_nor_compared(pwsh: str, tmp_path: Path) -> None:
    edit = _edit(main_registry={"DefaultSslCertCheckMode": 0x5})  # 0x4 without a freshness time
    with lab_hosts(tmp_path, pwsh, edit=edit) as lab:
        same = [{"ipport": "0.0.0.0:443", "certhash": OLD_CERT}]
        assert lab.plan(lab.spec("CHG0000403", same)).exit_code == 0
    (tmp_path / "fresh").mkdir()
    with lab_hosts(tmp_path / "fresh", pwsh) as lab:
        planned = lab.plan(lab.spec("CHG0000404", swap_to_new(revocationfreshnesstime=60)))
        assert planned.exit_code == 3, planned.output
        applied = lab.apply("CHG0000404")
        assert applied.exit_code == 0, applied.output
        assert lab.sslbind("verify", str(lab.record("CHG0000404"))).exit_code == 0


def test_scoped_ccs_is_added_captured_verified_and_rolled_back(pwsh: str, tmp_path: Path) -> None:
    binding = {"scopedccs": "www.contoso.com:443", "appid": IIS_APPID, "mode": "exact"}
    with lab_hosts(tmp_path, pwsh) as lab:
        host = lab.hosts[0]
        before = lab.bindings(host)
        assert lab.plan(lab.spec("CHG0000405", [binding])).exit_code == 3
        applied = lab.apply("CHG0000405")
        assert applied.exit_code == 0, applied.output
        added = [b for b in lab.bindings(host) if b.get("scopedccs") == "www.contoso.com:443"]
        assert len(added) == 1 and "certhash" not in added[0]
        assert lab.sslbind("verify", str(lab.record("CHG0000405"))).exit_code == 0
        rolled = lab.sslbind("rollback", str(lab.record("CHG0000405")), "--yes")
        assert rolled.exit_code == 0, rolled.output
        assert lab.bindings(host) == before


PLAIN_EXTENDED = [
    {"id": 0, "values": [1048576]},
    {"id": 1, "values": [2796202, 4294967295]},
    {"id": 2, "values": []},
]


def test_extended_properties_a_delete_add_would_reset_refuse_the_change(pwsh: str, tmp_path: Path) -> None:
    # Server 2022+ shows HTTP/2 Extended Properties that netsh add cannot set: a tuned receive
    # window is refused before anything changes; the values a plain add leaves do not block.
    tuned = [{"id": 0, "values": [2097152]}, *PLAIN_EXTENDED[1:]]
    with lab_hosts(tmp_path, pwsh, edit=_edit(main_extended=tuned)) as lab:
        host = lab.hosts[0]
        before = lab.bindings(host)
        refused = lab.plan(lab.spec("CHG0000405", swap_to_new()), "--json")
        assert refused.exit_code == 1, refused.output
        reason = json.dumps(json.loads(refused.stdout)["hosts"][0])
        assert "Extended Properties (PropertyId 0 = 2097152)" in reason
        assert "sslpropertyex" in reason
        assert lab.bindings(host) == before
    (tmp_path / "plain").mkdir()
    with lab_hosts(tmp_path / "plain", pwsh, edit=_edit(main_extended=PLAIN_EXTENDED)) as lab:
        planned = lab.plan(lab.spec("CHG0000406", swap_to_new()))
        assert planned.exit_code == 3, planned.output
        assert lab.apply("CHG0000406", "--yes").exit_code == 0
