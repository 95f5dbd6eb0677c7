"""What the scripts' JSON results mean to the client (no network): outcomes, captures, parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.binding import KeyKind
from generator.model import Binding, BindingKey, Connection, Target
from generator.remote import scriptio
from generator.remote.runner import ScriptResult
from generator.remote.scriptio import Capture

NEW = "40db5bb1bf5659a155258d1d007c530fcb8996c2"
OLD = "8f2c0a4e6b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90"


def captured(certhash: str = OLD, revocation: str = "disable", exists: bool = True) -> dict[str, Any]:
    settings = {
        "certhash": certhash,
        "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}",
        "certstorename": "My",
    }
    settings["verifyclientcertrevocation"] = revocation
    return {
        "kind": "ipport",
        "key": "0.0.0.0:443",
        "exists": exists,
        "settings": settings if exists else None,
    }


def prepare_result(outcome: str = "changes_pending", before: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "phase": "prepare",
        "outcome": outcome,
        "before": [before or captured()],
        "bindings": [
            {
                "binding": "ipport=0.0.0.0:443",
                "kind": "ipport",
                "key": "0.0.0.0:443",
                "change": "replace" if outcome == "changes_pending" else "none",
                "differences": [{"setting": "certhash", "expected": NEW, "actual": OLD}],
            }
        ],
        "error": None,
    }


def script_result(
    obj: dict[str, Any] | None, state: str = "Completed", errors: list[str] | None = None
) -> ScriptResult:
    output = ["log text"] + ([json.dumps(obj)] if obj is not None else [])
    return ScriptResult(output, errors or [], [], state, 1.0)


def target() -> Target:
    binding = Binding(BindingKey(KeyKind.IPPORT, "0.0.0.0:443"), {"certhash": NEW})
    return Target("web01", Connection(), (binding,))


def test_prepare_pending_and_unchanged() -> None:
    pending = scriptio.parse_prepare(script_result(prepare_result()))
    assert not pending.at_desired
    assert scriptio.describe_change(pending.changed_bindings()[0]) == (
        f"ipport=0.0.0.0:443: replace (certhash {OLD} -> {NEW})"
    )
    assert scriptio.parse_prepare(script_result(prepare_result("unchanged"))).at_desired


def test_prepare_refusal_is_an_error_unless_only_the_state_is_wanted() -> None:
    refused = {**prepare_result("refused"), "error": "the binding does not exist yet"}
    result = script_result(refused, "Failed", ["sslbind prepare refused"])
    with pytest.raises(scriptio.ScriptFailed, match=r"prepare\.ps1 refused: the binding does not exist yet"):
        scriptio.parse_prepare(result)
    assert scriptio.parse_prepare(result, state_only=True).before == refused["before"]
    unreadable = {**refused, "before": [{"kind": "ipport", "key": "0.0.0.0:443", "error": "access denied"}]}
    with pytest.raises(scriptio.ScriptFailed):
        scriptio.parse_prepare(script_result(unreadable, "Failed"), state_only=True)


def test_prepare_without_a_result_object_names_the_pipeline_state() -> None:
    with pytest.raises(scriptio.ScriptFailed, match=r"pipeline Failed\): boom"):
        scriptio.parse_prepare(script_result(None, "Failed", ["boom"]))


def test_same_bindings_compares_settings_case_blind_and_absence() -> None:
    a = Capture({"before": [captured(OLD.upper())]})
    assert a.same_bindings(Capture({"before": [captured(OLD)]}))
    assert not a.same_bindings(Capture({"before": [captured(OLD, revocation="enable")]}))
    assert not a.same_bindings(Capture({"before": [captured(exists=False)]}))
    missing = Capture({"before": [captured(exists=False)]})
    assert missing.same_bindings(Capture({"before": [captured(exists=False)]}))
    assert not Capture({"before": []}).same_bindings(
        Capture({"before": []})
    )  # nothing captured proves nothing


@pytest.mark.parametrize(
    ("outcome", "state", "expected"),
    [
        ("applied", "Completed", "applied"),
        ("unchanged", "Completed", "unchanged"),
        ("refused", "Failed", "refused"),
        ("rolled_back", "Failed", "rolled_back"),
        ("rollback_failed", "Failed", "rollback_failed"),
    ],
)
def test_apply_outcomes(outcome: str, state: str, expected: str) -> None:
    obj = {
        "outcome": outcome,
        "error": None if state == "Completed" else "netsh add failed with error 1312",
        "before": [captured()],
        "bindings": prepare_result()["bindings"],
        "timings": {
            "total_ms": 900,
            "gaps": [{"binding": "ipport=0.0.0.0:443", "gap_ms": 12}, {"gap_ms": 30}],
        },
    }
    verdict = scriptio.parse_change(
        scriptio.APPLY, script_result(obj, state, [] if state == "Completed" else ["x"])
    )
    assert verdict.outcome == expected
    assert verdict.gap_ms == 30
    assert verdict.before is not None and verdict.before.before == [captured()]
    if state == "Failed":
        assert "1312" in verdict.summary


def test_apply_without_a_result_is_unknown() -> None:
    verdict = scriptio.parse_change(scriptio.APPLY, script_result(None, "Stopped"))
    assert verdict.outcome == scriptio.UNKNOWN and verdict.result is None


@pytest.mark.parametrize(
    "error",
    [
        # pwsh 7.6, NoLanguage runspace (the lab's language_mode NoLanguage)
        "The syntax is not supported by this runspace. "
        "This can occur if the runspace is in no-language mode.",
        # RestrictedLanguage: the script does not even parse
        "At line:57 char:1 + param( A Begin statement block, Process statement block, or parameter "
        "statement is not allowed in a Data section.",
    ],
)
def test_a_jea_style_session_is_a_clear_refusal_not_an_unknown_outcome(error: str) -> None:
    verdict = scriptio.parse_change(scriptio.APPLY, script_result(None, "Failed", [error]))
    assert verdict.outcome == "refused"
    assert "NoLanguage or RestrictedLanguage" in verdict.summary and "Nothing was run" in verdict.summary
    with pytest.raises(scriptio.ScriptFailed, match=r"configuration_name Microsoft\.PowerShell"):
        scriptio.parse_prepare(script_result(None, "Failed", [error]))
    # the same words from a pipeline that was stopped mid-run prove nothing: still unknown
    assert scriptio.parse_change(scriptio.APPLY, script_result(None, "Stopped", [error])).outcome == "unknown"


def test_verify_outcomes() -> None:
    compliant = scriptio.parse_verify(script_result({"outcome": "compliant", "differences": []}))
    assert compliant[0] == "compliant"
    drift = {
        "outcome": "drift",
        "differences": [
            {"binding": "ipport=0.0.0.0:443", "setting": "certhash", "expected": NEW, "actual": OLD}
        ],
    }
    outcome, _, text = scriptio.parse_verify(script_result(drift, "Failed", ["drift"]))
    assert outcome == "drift" and text == f"ipport=0.0.0.0:443 certhash: {OLD} (want {NEW})"
    assert scriptio.parse_verify(script_result(None, "Failed"))[0] == scriptio.UNKNOWN


def test_values_travel_as_parameters() -> None:
    prior = Capture(prepare_result())
    params = scriptio.apply_parameters(target(), prior)
    assert params["TargetHost"] == "web01"
    assert params["Confirm"] is False
    assert json.loads(params["ExpectedPrior"]) == prior.raw
    assert params["Binding"][0]["Kind"] == "ipport" and params["Binding"][0]["Key"] == "0.0.0.0:443"
    rollback = scriptio.rollback_parameters(target(), prior)
    assert json.loads(rollback["Prior"]) == prior.raw and rollback["Confirm"] is False
    assert "ExpectedPrior" not in scriptio.prepare_parameters(target())
