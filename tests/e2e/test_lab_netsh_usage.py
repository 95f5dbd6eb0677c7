"""The lab's netsh prints its usage for a command line it cannot parse, per help layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator.lab.sample import IIS_APPID, NEW_CERT, sample_state
from generator.lab.simwin import netsh
from generator.lab.simwin.netsh_help import HELP_LAYOUTS, help_text
from generator.lab.state import LabStateError, StateFile

ADD = ["http", "add", "sslcert", "ipport=10.0.0.9:443", f"certhash={NEW_CERT}", f"appid={IIS_APPID}"]


def store_with(tmp_path: Path, netsh_section: dict[str, object] | None = None, **extra: object) -> StateFile:
    state = sample_state()
    state["netsh"].update(netsh_section or {})
    state.update(extra)
    store = StateFile(tmp_path / "state.json")
    store.create(state)
    return store


def ipports(store: StateFile) -> list[str]:
    return [b["ipport"] for b in store.read()["bindings"] if "ipport" in b]


@pytest.mark.parametrize("layout", HELP_LAYOUTS)
@pytest.mark.parametrize(
    "argv",
    [
        [*ADD, "frobnicate=enable"],
        [*ADD, "usagecheck=sometimes"],
        [*ADD, "urlretrievaltimeout=ten"],
        [*ADD, "appid=" + IIS_APPID],  # the same tag twice
        [*ADD, "ccs=443"],  # a second key
        [*ADD, "reject"],  # no '='
        ["http", "delete", "sslcert", "ipport=0.0.0.0:443", "certhash=" + NEW_CERT],
        ["http", "delete", "sslcert", "port=443"],
    ],
    ids=[
        "unknown-tag",
        "bad-enum",
        "bad-number",
        "duplicate",
        "two-keys",
        "no-equals",
        "delete-hash",
        "bad-key",
    ],
)
def test_an_unparsable_line_prints_the_usage_of_the_verb(
    tmp_path: Path, layout: str, argv: list[str]
) -> None:
    store = store_with(tmp_path, {"help_layout": layout})
    before = store.read()["bindings"]
    code, text = netsh.run(argv, store)
    assert (code, text) == (1, help_text(layout, argv[1]))
    assert store.read()["bindings"] == before


def test_the_delete_usage_carries_the_example_addresses(tmp_path: Path) -> None:
    # Why a client must not read addresses out of netsh's error output.
    store = store_with(tmp_path)
    _, text = netsh.run(["http", "delete", "sslcert", "ipport=0.0.0.0:443", "x=y"], store)
    assert "delete sslcert ipport=1.1.1.1:443" in text


@pytest.mark.parametrize(("layout", "accepted"), [("2012r2", False), ("2016", False), ("2019", True)])
def test_scopedccs_is_a_syntax_error_before_server_2019(tmp_path: Path, layout: str, accepted: bool) -> None:
    store = store_with(tmp_path, {"help_layout": layout})
    argv = ["http", "add", "sslcert", "scopedccs=www.contoso.com:443", f"appid={IIS_APPID}"]
    code, text = netsh.run(argv, store)
    if accepted:
        assert (code, text.strip()) == (0, "SSL Certificate successfully added")
        return
    assert (code, text) == (1, help_text(layout, "add"))
    code, text = netsh.run(["http", "delete", "sslcert", "scopedccs=www.contoso.com:443"], store)
    assert (code, text) == (1, help_text(layout, "delete"))
    code, text = netsh.run(["http", "show", "sslcert", "scopedccs=www.contoso.com:443"], store)
    assert code == 1 and text.lstrip().startswith("Usage: show sslcert")


def test_a_flag_newer_than_the_build_is_usage_unless_it_is_a_missing_parameter(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"help_layout": "2016"})
    code, text = netsh.run([*ADD, "disablehttp2=enable"], store)
    assert (code, text) == (1, help_text("2016", "add"))
    with store.transaction() as state:
        state["netsh"]["missing_parameters"] = ["disablehttp2"]
    code, text = netsh.run([*ADD, "disablehttp2=enable"], store)
    assert (code, text) == (0, "\n")  # the reported Server 2019 behaviour: success, no binding
    assert "10.0.0.9:443" not in ipports(store)


def test_missing_essential_parameters_print_the_usage_of_the_layout(tmp_path: Path) -> None:
    store = store_with(tmp_path, {"help_layout": "de-2019"})
    code, text = netsh.run(ADD[:-1], store)
    assert code == 1
    assert text == netsh.ESSENTIAL + (help_text("de-2019", "add") or "")


@pytest.mark.parametrize("operation", ["add", "update", "delete"])
def test_a_usage_fault_fires_once_and_changes_nothing(tmp_path: Path, operation: str) -> None:
    argv = {
        "add": ADD,
        "update": [
            "http",
            "update",
            "sslcert",
            "ipport=0.0.0.0:443",
            f"certhash={NEW_CERT}",
            f"appid={IIS_APPID}",
        ],
        "delete": ["http", "delete", "sslcert", "ipport=0.0.0.0:443"],
    }[operation]
    store = store_with(tmp_path, faults=[{"on": operation, "usage": True, "target": argv[3]}])
    before = store.read()["bindings"]
    code, text = netsh.run(argv, store)
    assert (code, text) == (1, help_text("2019", operation))
    assert store.read()["bindings"] == before and store.read()["faults"] == []
    code, text = netsh.run(argv, store)
    assert code == 0 and "successfully" in text


def test_a_usage_fault_combines_with_missing_parameters(tmp_path: Path) -> None:
    store = store_with(
        tmp_path, {"missing_parameters": ["disablesessionid"]}, faults=[{"on": "add", "usage": True}]
    )
    code, text = netsh.run(ADD, store)
    assert code == 1 and "disablesessionid" not in text and "[disabletls13=enable|disable]" in text


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ('{"on": "show", "usage": true}', 'faults[0]: usage: only "usage": true, on add, update or delete'),
        (
            '{"on": "delete", "usage": "yes"}',
            'faults[0]: usage: only "usage": true, on add, update or delete',
        ),
        ('{"on": "delete", "usages": true}', "faults[0]: unknown key 'usages'"),
    ],
)
def test_bad_usage_faults_are_refused(tmp_path: Path, fault: str, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"faults": [' + fault + "]}", encoding="utf-8")
    with pytest.raises(LabStateError, match=re.escape(message)):
        StateFile(path).read()
