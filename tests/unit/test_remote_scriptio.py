"""What the scripts' JSON results mean to the client (no network): outcomes, captures, parameters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from generator.binding import KeyKind
from generator.model import Binding, BindingKey, Change, Connection, Target
from generator.remote import scriptio
from generator.remote.runner import ScriptResult
from generator.remote.scriptio import Capture
from generator.render import render_target

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


# --- zero-downtime changes: the path each binding takes (recorded prepare/apply results) ----------

ADD_LINE = (
    f"netsh http add sslcert ipport=0.0.0.0:443 certhash={NEW} "
    "appid='{4dc3e181-e14b-4a21-b022-59fc669b0914}' certstorename=My verifyclientcertrevocation=disable"
)
UPDATE_LINE = ADD_LINE.replace("netsh http add", "netsh http update")
DELETE_LINE = "netsh http delete sslcert ipport=0.0.0.0:443"
GONE = f"certificate {OLD} is no longer in LocalMachine\\My"


def pathed(path: str, commands: list[str], restorable: bool | None = True, **extra: Any) -> dict[str, Any]:
    """A binding of a newer prepare.ps1/apply.ps1 result, with the path fields."""
    binding = prepare_result()["bindings"][0]
    return {
        **binding,
        "change": "replace",
        "swap": "auto",
        "path": path,
        "commands": commands,
        "restorable": restorable,
        "undo_problem": None if restorable is not False else GONE,
        "command_line": ADD_LINE,
        **extra,
    }


def newer_prepare(*bindings: dict[str, Any], supported: bool = True) -> dict[str, Any]:
    return {
        **prepare_result(),
        "bindings": list(bindings),
        "update_supported": {"ipport": supported, "hostnameport": supported, "ccs": supported},
    }


def test_plan_shows_an_update_in_place_and_its_command() -> None:
    capture = scriptio.parse_prepare(script_result(newer_prepare(pathed("update", [UPDATE_LINE]))))
    assert scriptio.plan_lines(capture) == [
        "ipport=0.0.0.0:443: update in place: one netsh http update sslcert, no moment without a binding",
        f"  {UPDATE_LINE}",
    ]
    assert scriptio.describe_plan(capture) == f"ipport=0.0.0.0:443: update (certhash {OLD} -> {NEW})"
    assert capture.update_supported == {"ipport": True, "hostnameport": True, "ccs": True}
    assert capture.planned_paths() == [
        {
            "binding": "ipport=0.0.0.0:443",
            "swap": "auto",
            "path": "update",
            "commands": [UPDATE_LINE],
            "restorable": True,
            "undo_problem": None,
        }
    ]


def test_plan_says_why_a_binding_is_deleted_and_added() -> None:
    no_update = newer_prepare(pathed("replace", [DELETE_LINE, ADD_LINE]), supported=False)
    lines = scriptio.plan_lines(Capture(no_update))
    assert lines[0] == (
        "ipport=0.0.0.0:443: delete+add: the binding is absent between the two "
        "(this host's netsh has no update sslcert for ipport)"
    )
    assert lines[1:] == [f"  {DELETE_LINE}", f"  {ADD_LINE}"]
    asked = newer_prepare(pathed("replace", [DELETE_LINE, ADD_LINE], swap="replace"))
    assert scriptio.plan_lines(Capture(asked))[0].endswith("(swap: replace)")
    # the script's own reason wins where it gives one
    noted = newer_prepare(pathed("replace", [DELETE_LINE, ADD_LINE], path_note="update cannot set X"))
    assert scriptio.plan_lines(Capture(noted))[0].endswith("(update cannot set X)")


def test_plan_names_a_binding_that_cannot_be_undone() -> None:
    capture = Capture(newer_prepare(pathed("update", [UPDATE_LINE], restorable=False)))
    warning = f"cannot be undone: {GONE} (apply refuses it unless --accept-no-undo)"
    assert scriptio.plan_lines(capture)[-1] == f"ipport=0.0.0.0:443: {warning}"
    assert scriptio.describe_plan(capture).endswith(f"; ipport=0.0.0.0:443: {warning}")
    assert [b["binding"] for b in capture.unrestorable()] == ["ipport=0.0.0.0:443"]
    unsure = Capture(newer_prepare(pathed("update", [UPDATE_LINE], restorable=False, undo_problem=None)))
    assert "cannot be undone: the prior binding could not be put back" in scriptio.plan_lines(unsure)[-1]


def test_a_prepare_result_of_an_older_record_still_plans() -> None:
    # before swap existed: no path, commands, restorable, undo_problem or update_supported
    capture = Capture(
        {**prepare_result(), "bindings": [{**prepare_result()["bindings"][0], "command_line": ADD_LINE}]}
    )
    assert scriptio.plan_lines(capture) == [f"ipport=0.0.0.0:443: {ADD_LINE}"]
    assert capture.update_supported == {} and capture.unrestorable() == []
    assert capture.planned_paths()[0] == {
        "binding": "ipport=0.0.0.0:443",
        "swap": None,
        "path": None,
        "commands": None,
        "restorable": None,
        "undo_problem": None,
    }
    assert scriptio.describe_plan(capture) == f"ipport=0.0.0.0:443: replace (certhash {OLD} -> {NEW})"
    assert scriptio.binding_commands({"command_line": ADD_LINE}) == [ADD_LINE]


def applied(*bindings: dict[str, Any], gaps: list[dict[str, Any]] | None = None) -> ScriptResult:
    obj = {
        "outcome": "applied",
        "error": None,
        "before": [captured()],
        "bindings": list(bindings),
        "actions": [],
        "timings": {"total_ms": 800, "gaps": gaps or []},
    }
    return script_result(obj)


def test_apply_summary_says_updated_in_place_or_replaced_with_its_window() -> None:
    updated = scriptio.parse_change(scriptio.APPLY, applied(pathed("update", [UPDATE_LINE])))
    assert updated.summary == f"ipport=0.0.0.0:443: updated in place: certhash {OLD} -> {NEW}"
    assert updated.gap_ms is None  # an update has no window
    sni = {**pathed("replace", [DELETE_LINE, ADD_LINE]), "binding": "hostnameport=api.contoso.com:443"}
    both = applied(
        pathed("update", [UPDATE_LINE]),
        {**sni, "differences": []},
        gaps=[{"binding": "hostnameport=api.contoso.com:443", "gap_ms": 12.4}],
    )
    verdict = scriptio.parse_change(scriptio.APPLY, both)
    assert verdict.summary.endswith("; hostnameport=api.contoso.com:443: replaced (window 12 ms)")
    assert verdict.gap_ms == 12.4
    unknown_window = scriptio.parse_change(scriptio.APPLY, applied({**sni, "differences": []}))
    assert unknown_window.summary == "hostnameport=api.contoso.com:443: replaced (delete+add)"


def test_apply_summary_of_an_older_record_reads_its_change_and_gaps() -> None:
    old = {k: v for k, v in prepare_result()["bindings"][0].items()}  # change: replace, no path
    verdict = scriptio.parse_change(
        scriptio.APPLY, applied(old, gaps=[{"binding": "ipport=0.0.0.0:443", "gap_ms": 30}])
    )
    assert verdict.summary == f"ipport=0.0.0.0:443: replaced (window 30 ms): certhash {OLD} -> {NEW}"
    none = {**old, "change": "none", "differences": []}
    assert scriptio.parse_change(scriptio.APPLY, applied(none)).summary == "applied"


def test_accept_no_undo_is_passed_only_when_given() -> None:
    prior = Capture(prepare_result())
    assert "AcceptNoUndo" not in scriptio.apply_parameters(target(), prior)
    given = scriptio.apply_parameters(target(), prior, accept_no_undo=True)
    assert given["AcceptNoUndo"] is True
    assert (given["Confirm"], json.loads(given["ExpectedPrior"])) == (False, prior.raw)


def test_every_binding_carries_its_swap() -> None:
    params = scriptio.apply_parameters(target(), Capture(prepare_result()))
    assert params["Binding"][0]["Swap"] == "auto"
    swapped = Target(
        "web01", Connection(), (Binding(BindingKey(KeyKind.IPPORT, "0.0.0.0:443"), {}, swap="update"),)
    )
    assert scriptio.prepare_parameters(swapped)["Binding"][0]["Swap"] == "update"


# Scripts from before the library module name `Swap = '...'` in every binding once Swap existed;
# a library-pinning script knows Swap whether or not it names it (only where not auto).
NEWER_SCRIPT = """param(
    [hashtable[]]$Binding = @(
        @{
            Kind = 'ipport'
            Swap = 'auto'
        }
    ),
    [switch]$AcceptNoUndo
)
"""
OLDER_SCRIPT = NEWER_SCRIPT.replace("            Swap = 'auto'\n", "").replace(
    ",\n    [switch]$AcceptNoUndo", ""
)


def test_a_script_of_an_older_record_gets_only_the_parameters_it_knows() -> None:
    given = scriptio.apply_parameters(target(), Capture(prepare_result()), accept_no_undo=True)
    assert scriptio.fit_parameters(NEWER_SCRIPT, given) == given
    older = scriptio.fit_parameters(OLDER_SCRIPT, given)
    assert "AcceptNoUndo" not in older and "Swap" not in older["Binding"][0]
    assert older["Binding"][0]["Kind"] == "ipport" and older["ExpectedPrior"] == given["ExpectedPrior"]
    assert "Swap" in given["Binding"][0]  # the caller's parameters are left alone


def test_a_freshly_rendered_script_keeps_swap() -> None:
    change = Change("CHG1", "t", (target(),), spec_sha256="ab" * 32)
    for path, data in render_target(change, target()).items():
        fitted = scriptio.fit_parameters(data.decode(), scriptio.prepare_parameters(target()))
        assert fitted["Binding"][0]["Swap"] == "auto", path
    assert "Swap = 'auto'" not in OLDER_SCRIPT and "AcceptNoUndo" not in OLDER_SCRIPT


def test_lock_wait_goes_only_to_scripts_that_know_it() -> None:
    given = {**scriptio.prepare_parameters(target()), scriptio.LOCK_WAIT: 5}
    rendered = render_target(Change("CHG1", "t", (target(),), spec_sha256="ab" * 32), target())
    for path, data in rendered.items():
        if path.endswith(".ps1") and path.startswith("hosts/"):
            assert scriptio.fit_parameters(data.decode(), given)[scriptio.LOCK_WAIT] == 5, path
    assert scriptio.LOCK_WAIT not in scriptio.fit_parameters(OLDER_SCRIPT, given)


def _applied(tls: list[dict[str, Any]]) -> dict[str, Any]:
    binding = {"binding": "ipport=0.0.0.0:443", "path": "update", "differences": []}
    return {"outcome": "applied", "bindings": [binding], "tls": tls}


def test_the_summary_of_an_apply_says_when_the_host_did_not_verify_tls() -> None:
    clm = {"binding": "ipport=0.0.0.0:443", "address": None, "result": "not checked"}
    clm["detail"] = "not checked: ConstrainedLanguage"
    assert scriptio.describe_apply(_applied([clm])) == (
        "ipport=0.0.0.0:443: updated in place; TLS not verified on the host: ConstrainedLanguage"
    )
    slow = {"binding": "ipport=0.0.0.0:443", "address": "127.0.0.1", "result": "not checked"}
    slow["detail"] = "not checked: no answer within 18 s"
    assert scriptio.describe_host_tls(_applied([slow])) == [
        "TLS not verified on the host for ipport=0.0.0.0:443 at 127.0.0.1: not checked: no answer within 18 s"
    ]
    shadow = {"binding": "ipport=0.0.0.0:443", "address": "127.0.0.1", "result": "mismatch"}
    shadow.update(
        shadowed_by="ipport=127.0.0.1:443",
        detail="ip binding 127.0.0.1:443 answers before ipport 0.0.0.0:443",
    )
    assert scriptio.describe_host_tls(_applied([shadow])) == [
        "TLS at 127.0.0.1 not checked for ipport=0.0.0.0:443: "
        "ip binding 127.0.0.1:443 answers before ipport 0.0.0.0:443"
    ]
    before = {"binding": "ipport=0.0.0.0:443", "address": "127.0.0.1", "result": "failed"}
    before["detail"] = "as before the change: TLS handshake with 127.0.0.1:443 failed: reset"
    assert scriptio.describe_host_tls(_applied([before])) == [
        "TLS at 127.0.0.1 for ipport=0.0.0.0:443 as before the change: "
        "TLS handshake with 127.0.0.1:443 failed: reset"
    ]
    match = {"binding": "ipport=0.0.0.0:443", "address": "127.0.0.1", "result": "match", "detail": None}
    nothing = {"binding": "ipport=0.0.0.0:443", "address": "127.0.0.1", "result": "not checked"}
    nothing["detail"] = "not checked: nothing listens on 127.0.0.1:443 (refused)"
    assert scriptio.describe_host_tls(_applied([match, nothing])) == []
    assert scriptio.describe_apply(_applied([match])) == "ipport=0.0.0.0:443: updated in place"


def test_verify_and_restore_summaries_say_when_the_host_did_not_verify_tls() -> None:
    clm = {"binding": "ipport=0.0.0.0:443", "address": None, "result": "not checked"}
    clm["detail"] = "not checked: ConstrainedLanguage"
    compliant = ScriptResult([json.dumps({"outcome": "compliant", "tls": [clm]})], [], [], "Completed", 1)
    assert scriptio.parse_verify(compliant)[2] == (
        "every binding as desired; TLS not verified on the host: ConstrainedLanguage"
    )
    plain = ScriptResult([json.dumps({"outcome": "compliant", "tls": []})], [], [], "Completed", 1)
    assert scriptio.parse_verify(plain)[2] == "every binding as desired"
    rolled = ScriptResult([json.dumps({"outcome": "rolled_back", "tls": [clm]})], [], [], "Completed", 1)
    assert scriptio.parse_change(scriptio.ROLLBACK, rolled).summary == (
        "TLS not verified on the host: ConstrainedLanguage"
    )
