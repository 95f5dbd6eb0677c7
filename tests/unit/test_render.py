"""Rendering: determinism, the quoting filter, validation, golden files, param() defaults, and
arbitrary text that can only ever reach a script as one string literal.

Golden files live in tests/golden/contract-example/. After an intended template change, rewrite
them with `SSLBIND_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render.py` and review the diff.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import generator.render as render
from generator.binding import KeyKind
from generator.model import Binding, BindingKey, Change, Method, Swap
from generator.pwsh import run_file
from generator.render import (
    RenderError,
    escape_single_quoted,
    ps_comment,
    ps_squote,
    render_change,
    script_parameters,
    validate_change,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ps"))
from render_cases import broad_changes, contract_change  # noqa: E402

GOLDEN = ROOT / "golden" / "contract-example"
APPID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
PS_DIR = ROOT / "ps"
GOLDEN_VERSION = "0.0.0-golden"


# --- determinism and encoding ---------------------------------------------------------------


def test_rendering_twice_gives_identical_bytes() -> None:
    for change in broad_changes():
        assert render_change(change) == render_change(change)


def test_powershell_files_are_ascii_with_crlf_line_endings() -> None:
    for change in broad_changes():
        files = render_change(change)
        for path, data in files.items():
            if path.endswith((".ps1", ".psm1", ".psd1")):
                data.decode("ascii")
                assert b"\n" not in data.replace(b"\r\n", b""), path
            else:
                assert b"\r" not in data, path


def test_record_paths() -> None:
    files = render_change(contract_change())
    host = "hosts/web01.contoso.local"
    assert sorted(files) == sorted(
        [
            ".gitattributes",
            "README.md",
            "lib/SslBind/SslBind.psd1",
            "lib/SslBind/SslBind.psm1",
            *(f"{host}/{p}.ps1" for p in ("prepare", "delete", "add", "verify", "rollback", "apply")),
        ]
    )


def test_notes_carry_change_id_spec_hash_and_version() -> None:
    change = contract_change()
    for path, data in render_change(change).items():
        if path.endswith(".ps1"):
            text = data.decode()
            notes = text[text.index(".NOTES") : text.index("#>")]
            assert change.id in notes and change.spec_sha256 in notes and render.__version__ in notes


# --- the quoting filter ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("it's", "it''s"),
        ("''", "''''"),
        ("\u2018x\u2019", "\u2018\u2018x\u2019\u2019"),
        ("\u201a\u201b", "\u201a\u201a\u201b\u201b"),
        ("$(x) `n", "$(x) `n"),
    ],
)
def test_escape_doubles_every_single_quote_powershell_knows(raw: str, escaped: str) -> None:
    assert escape_single_quoted(raw) == escaped


def test_ps_squote_wraps_and_doubles() -> None:
    assert ps_squote("it's $x") == "'it''s $x'"
    assert ps_squote("") == "''"


@pytest.mark.parametrize("bad", ["a\nb", "tab\t", "nul\x00", "caf\u00e9", "\u2019", "del\x7f"])
def test_ps_squote_refuses_control_and_non_ascii(bad: str) -> None:
    with pytest.raises(RenderError, match="control or non-ASCII"):
        ps_squote(bad)


@pytest.mark.parametrize("bad", [1, None, b"x", 1.5])
def test_ps_squote_refuses_non_text(bad: object) -> None:
    with pytest.raises(RenderError):
        ps_squote(bad)


@pytest.mark.parametrize("bad", ["a#>b", "<#", "x`y", "line\nbreak"])
def test_comment_text_cannot_close_the_help_block(bad: str) -> None:
    with pytest.raises(RenderError):
        ps_comment(bad)


# --- validation names the field ---------------------------------------------------------------


def _with_target(change: Change, **fields: object) -> Change:
    return replace(change, targets=(replace(change.targets[0], **fields),))


def _with_binding(change: Change, binding: Binding) -> Change:
    return _with_target(change, bindings=(binding,))


def _ipport(settings: dict[str, str | int], method: Method = "netsh") -> Binding:
    return Binding(BindingKey(KeyKind.IPPORT, "0.0.0.0:443"), settings, method=method)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: replace(c, id="bad id"), "change.id"),
        (lambda c: replace(c, title="caf\u00e9"), "change.title"),
        (lambda c: _with_target(c, host="../escape"), r"targets\[0\].host"),
        (lambda c: _with_target(c, host=".."), r"targets\[0\].host"),
        (lambda c: _with_target(c, host="a/b"), r"targets\[0\].host"),
        (lambda c: _with_target(c, bindings=()), "at least one binding"),
        (lambda c: replace(c, targets=c.targets * 2), "listed twice"),
        (
            lambda c: _with_binding(c, Binding(BindingKey(KeyKind.IPPORT, "0.0.0.0:443;x"), {})),
            r"bindings\[0\].ipport",
        ),
        (lambda c: _with_binding(c, Binding(BindingKey(KeyKind.CCS, "70000"), {})), "port must be"),
        (
            lambda c: _with_binding(c, _ipport({"certhash": "xyz"})),
            r"settings|certhash",
        ),
        (
            lambda c: _with_binding(c, _ipport({"nope": "1"})),
            "unknown setting",
        ),
        (
            lambda c: _with_binding(c, _ipport({"urlretrievaltimeout": True})),
            "whole number",
        ),
        (
            lambda c: _with_binding(c, _ipport({"certstorename": "My"}, method="registry")),
            "method registry",
        ),
        (
            lambda c: _with_binding(
                c,
                replace(_ipport({"verifyclientcertrevocation": "disable"}, method="registry"), swap="update"),
            ),
            "auto for method registry",
        ),
        (
            lambda c: _with_binding(c, replace(_ipport({"certhash": "a" * 40}), swap=cast(Swap, "atomic"))),
            "swap must be",
        ),
        (
            lambda c: _with_binding(
                c,
                Binding(
                    BindingKey(KeyKind.SCOPEDCCS, "www.contoso.com:443"), {"appid": APPID}, swap="update"
                ),
            ),
            "swap update is not available for scopedccs",
        ),
    ],
)
def test_validation_refuses_with_the_field_named(mutate: Callable[[Change], Change], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_change(mutate(contract_change()))


def test_an_ipv6_host_gets_a_folder_without_colons() -> None:
    files = render_change(_with_target(contract_change(), host="[2001:db8::10]"))
    assert "hosts/2001_db8__10/apply.ps1" in files
    assert "$TargetHost = '[2001:db8::10]'" in files["hosts/2001_db8__10/apply.ps1"].decode()
    assert render.host_dir("2001:db8::10") == "2001_db8__10"


def test_render_error_is_a_user_error_with_exit_2() -> None:
    with pytest.raises(RenderError) as caught:
        validate_change(replace(contract_change(), id=""))
    assert caught.value.exit_code == 2


# --- golden files -----------------------------------------------------------------------------


def test_contract_example_matches_golden_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "__version__", GOLDEN_VERSION)
    files = render_change(contract_change())
    if os.environ.get("SSLBIND_UPDATE_GOLDEN") == "1":
        for path, data in files.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_bytes(data)
    stored = {str(p.relative_to(GOLDEN)): p.read_bytes() for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(stored) == sorted(files), "golden file set differs; see the module docstring"
    for path, data in files.items():
        assert data == stored[path], f"{path} differs from the golden file; see the module docstring"


def test_readme_shows_the_motivating_command_for_an_exact_binding() -> None:
    change = contract_change()
    exact = replace(change.targets[0].bindings[0], mode="exact")
    readme = render_change(_with_target(change, bindings=(exact,)))["README.md"].decode()
    assert (
        "netsh http add sslcert ipport=0.0.0.0:443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 "
        "appid='{4dc3e181-e14b-4a21-b022-59fc669b0914}' certstorename=My verifyclientcertrevocation=disable"
    ) in readme


def _readme_of(*bindings: Binding) -> str:
    return " ".join(
        render_change(_with_target(contract_change(), bindings=bindings))["README.md"].decode().split()
    )


def test_readme_shows_the_exact_command_and_how_an_existing_binding_is_changed() -> None:
    exact = replace(contract_change().targets[0].bindings[0], mode="exact")
    readme = _readme_of(exact)
    settings = (
        "ipport=0.0.0.0:443 certhash=40db5bb1bf5659a155258d1d007c530fcb8996c2 "
        f"appid='{APPID}' certstorename=My verifyclientcertrevocation=disable"
    )
    assert f"#### `ipport=0.0.0.0:443`: exact ```powershell netsh http add sslcert {settings} ```" in readme
    assert "an update in place takes the same parameters" in readme
    assert (
        "Unless a host says otherwise, every binding is changed by one atomic `netsh http update sslcert` "
        "where the host's netsh has it, else by delete+add."
    ) in readme
    assert "Every binding is" not in readme  # the default is said once, not per host
    assert "#### `ipport=0.0.0.0:443`: preserve; if absent ```powershell" in _readme_of(
        replace(exact, mode="preserve")
    )
    mixed = _readme_of(exact, replace(exact, key=replace(exact.key, value="0.0.0.0:444"), swap="replace"))
    assert "Every binding is" not in mixed
    assert "#### `ipport=0.0.0.0:443`: exact Changed by one atomic" in mixed
    assert "#### `ipport=0.0.0.0:444`: exact, swap replace Changed by delete+add (`swap: replace`)" in mixed


def test_readme_says_which_path_each_swap_takes() -> None:
    exact = replace(contract_change().targets[0].bindings[0], mode="exact")
    update = _readme_of(replace(exact, swap="update"))
    assert "changed only by one atomic `netsh http update sslcert`" in update
    assert "a host whose netsh lacks it is refused" in update
    assert "#### `ipport=0.0.0.0:443`: exact, swap update ```powershell netsh http add sslcert" in update
    replaced = _readme_of(replace(exact, swap="replace"))
    assert "changed by delete+add (`swap: replace`), absent between the two" in replaced
    assert "where it cannot update, `netsh http delete sslcert` runs first if the binding exists" in replaced
    assert "netsh http update sslcert ipport" not in replaced
    scoped = Binding(BindingKey(KeyKind.SCOPEDCCS, "www.contoso.com:443"), {"appid": APPID}, mode="exact")
    text = _readme_of(scoped)
    assert "does not cover scopedccs bindings" in text
    assert f"netsh http add sslcert scopedccs=www.contoso.com:443 appid='{APPID}'" in text
    registry = _readme_of(_ipport({"verifyclientcertrevocation": "disable"}, method="registry"))
    assert "#### `ipport=0.0.0.0:443`: preserve, method registry " in registry
    assert "Settings: `verifyclientcertrevocation=disable`." in registry


def test_every_binding_passes_its_swap() -> None:
    first, second = contract_change().targets[0].bindings
    registry = Binding(
        BindingKey(KeyKind.IPPORT, "0.0.0.0:8443"),
        {"verifyclientcertrevocation": "disable"},
        method="registry",
    )
    bindings = (replace(first, swap="update"), second, registry)
    change = _with_target(contract_change(), bindings=bindings)
    parameters = cast(list[dict[str, object]], script_parameters(change.targets[0])["Binding"])
    assert [p["Swap"] for p in parameters] == ["update", "auto", "auto"]
    assert list(parameters[0]) == ["Kind", "Key", "Mode", "Method", "Swap", "Settings"]
    for path, data in render_change(change).items():
        if path.endswith(".ps1"):
            text = data.decode()
            # The scripts' defaults name Swap and Method only where they are not auto and netsh.
            assert re.findall(r"\bSwap = '[a-z]+'", text) == ["Swap = 'update'"], path
            assert re.findall(r"\bMethod = '[a-z]+'", text) == ["Method = 'registry'"], path


def test_readme_says_a_registry_change_needs_a_restart() -> None:
    binding = _ipport({"verifyclientcertrevocation": "disable"}, method="registry")
    files = render_change(_with_binding(contract_change(), binding))
    assert "only after the HTTP service or the server" in files["README.md"].decode().replace("\n", " ")
    script = files["hosts/web01.contoso.local/apply.ps1"].decode().replace("\r\n", " ")
    assert "only after the HTTP service or the server restarts" in script


# --- param() defaults equal script_parameters -------------------------------------------------

DEFAULTS_SCRIPT = r"""
param([string[]]$Path)
$all = [ordered]@{}
foreach ($file in ($Path -split ",")) {
    $tokens = $null; $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($file, [ref]$tokens, [ref]$errors)
    $values = [ordered]@{}
    foreach ($parameter in $ast.ParamBlock.Parameters) {
        if ($null -ne $parameter.DefaultValue) {
            $values[$parameter.Name.VariablePath.UserPath] = $parameter.DefaultValue.SafeGetValue()
        }
    }
    $all[[System.IO.Path]::GetFileNameWithoutExtension($file)] = $values
}
ConvertTo-Json -InputObject $all -Depth 6 -Compress
"""


@pytest.mark.pwsh
def test_script_parameters_equal_the_param_defaults(pwsh: str, tmp_path: Path) -> None:
    change = broad_changes()[0]
    target = change.targets[0]
    files = render_change(change)
    helper = tmp_path / "defaults.ps1"
    helper.write_text(DEFAULTS_SCRIPT, encoding="ascii")
    expected = json.loads(json.dumps(script_parameters(target)))
    scripts = []
    for phase in render.PHASES:
        script = tmp_path / f"{phase}.ps1"
        script.write_bytes(files[f"hosts/{target.host}/{phase}.ps1"])
        scripts.append(str(script))
    result = run_file(helper, ["-Path", ",".join(scripts)], pwsh=pwsh)
    assert result.ok, result.stderr
    defaults = json.loads(result.stdout)
    assert sorted(defaults) == sorted(render.PHASES)
    for phase, values in defaults.items():
        for own in ("ExpectedPrior", "Prepared"):  # each phase's own optional parameter
            values.pop(own, None)
        assert values.pop("LockWait") == 60  # a run option (--lock-wait), not a spec value
        for binding in values["Binding"]:  # the library's defaults, left out of the scripts'
            binding.setdefault("Method", "netsh")
            binding.setdefault("Swap", "auto")
        want = copy.deepcopy(expected)
        if phase in render.BARE_PHASES:  # delete and rollback act on what the host holds
            for binding in want["Binding"]:
                del binding["Settings"]
        assert values == want, phase


def test_record_carries_a_gitattributes_without_eol_conversion() -> None:
    files = render_change(contract_change())
    assert files[".gitattributes"] == render.render_extras(contract_change())[".gitattributes"]
    lines = files[".gitattributes"].decode("ascii").splitlines()
    assert "* -text" in lines and "*.ps1 -text" in lines
    assert "*.psm1 -text" in lines and "*.psd1 -text" in lines


def test_requires_is_not_part_of_the_help_block() -> None:
    # Without a blank line Get-Help shows '#Requires' inside .NOTES.
    for name, data in render_change(contract_change()).items():
        if name.endswith(".ps1"):
            assert b"#>\r\n\r\n#Requires -Version 5.1\r\n" in data, name


def test_script_parameters_send_uint32_timers_as_digit_strings() -> None:
    # pypsrp serializes a Python int as <I32>: a timer above 2147483647 must travel as text.
    target = broad_changes()[0].targets[0]
    bindings = cast(list[dict[str, dict[str, object]]], script_parameters(target)["Binding"])
    settings = [b["Settings"] for b in bindings]
    assert settings[0]["revocationfreshnesstime"] == "4294967295"
    assert settings[0]["urlretrievaltimeout"] == "30000"
    assert settings[1]["revocationfreshnesstime"] == "0"
    assert not [v for s in settings for v in s.values() if isinstance(v, int)]


# --- arbitrary text reaches a script only as one string literal -------------------------------

BENIGN = "benign"
TRICKY = st.sampled_from(list("'\"`$#<>{}()[];|&@\n\r\t\u2018\u2019\u201a\u201b\u201c\u00e9 ab0.-_:*"))
TEXT = st.one_of(
    st.text(alphabet=TRICKY | st.characters(codec="ascii"), max_size=30),
    st.text(max_size=30),
)


def _setting(name: str, text: str) -> Callable[[Change], Change]:
    def mutate(change: Change) -> Change:
        first = change.targets[0].bindings[0]
        return _with_binding(change, replace(first, settings={**first.settings, name: text}))

    return mutate


def _sni_key(text: str) -> Callable[[Change], Change]:
    return lambda c: _with_binding(c, Binding(BindingKey(KeyKind.HOSTNAMEPORT, text), {"certhash": "a" * 40}))


FIELDS: dict[str, Callable[[str], Callable[[Change], Change]]] = {
    "title": lambda t: lambda c: replace(c, title=t),
    "description": lambda t: lambda c: replace(c, description=t),
    "change id": lambda t: lambda c: replace(c, id=t or "x"),
    "host": lambda t: lambda c: _with_target(c, host=t or "x"),
    "certstorename": lambda t: _setting("certstorename", t),
    "sslctlstorename": lambda t: _setting("sslctlstorename", t),
    "sslctlidentifier": lambda t: _setting("sslctlidentifier", t),
    "hostnameport": lambda t: _sni_key(t + ":443"),
}
BENIGN_VALUE = {"hostnameport": BENIGN + ":443"}


def _apply_script(change: Change) -> bytes:
    files = render_change(change)
    return files[f"hosts/{change.targets[0].host}/apply.ps1"]


@pytest.mark.pwsh
def test_arbitrary_text_is_rejected_or_one_string_literal(pwsh: str, tmp_path: Path) -> None:
    base = contract_change()
    cases: list[dict[str, str]] = []
    rejected: dict[str, int] = dict.fromkeys(FIELDS, 0)
    baselines: dict[str, str] = {}
    for field, build in FIELDS.items():
        path = tmp_path / f"baseline-{field.replace(' ', '_')}.ps1"
        path.write_bytes(_apply_script(build(BENIGN)(base)))
        baselines[field] = str(path)
        cases.append({"path": str(path), "value": BENIGN_VALUE.get(field, BENIGN)})

    @settings(max_examples=160, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(field=st.sampled_from(sorted(FIELDS)), text=TEXT)
    @example(field="title", text="It's a 'test' #> <# $(Get-Date) `n ; \"x\" @{}")
    @example(field="certstorename", text="My'; Remove-Item C:\\ -Recurse; '")
    def render_one(field: str, text: str) -> None:
        change = FIELDS[field](text)(base)
        try:
            script = _apply_script(change)
            render_change(change)["README.md"].decode("utf-8")
        except RenderError:
            rejected[field] += 1
            return
        if field == "description":  # README only: the scripts must not change at all
            assert script == Path(baselines[field]).read_bytes()
            return
        path = tmp_path / f"case-{len(cases)}.ps1"
        path.write_bytes(script)
        value = text + ":443" if field == "hostnameport" else text
        cases.append({"path": str(path), "value": value, "field": field, "baseline": baselines[field]})

    render_one()
    accepted = [c for c in cases if "field" in c]
    assert any(c["field"] == "title" and "'" in c["value"] for c in accepted), (
        "no quote ever reached a script"
    )
    assert sum(rejected.values()) > 0, "nothing was ever rejected"
    case_file = tmp_path / "cases.json"
    case_file.write_text(json.dumps(cases), encoding="utf-8")
    result = run_file(PS_DIR / "literal_check.ps1", ["-CaseFile", str(case_file)], pwsh=pwsh, timeout=600)
    assert result.ok, result.stderr
    report = {entry["path"]: entry for entry in json.loads(result.stdout.strip().splitlines()[-1])}
    for case in accepted:
        entry, baseline = report[case["path"]], report[case["baseline"]]
        where = f"{case['field']}={case['value']!r}"
        assert entry["errors"] == 0, where
        assert entry["shape"] == baseline["shape"], f"{where} changed the script's code"
        assert entry["literals"] >= 1, f"{where} is not a string literal"


# --- the change's free text in the reviewer README is shown as typed, never as markup (F12) -------

HOSTILE_TEXT = [
    ("description", "Routine renewal, no functional change.\n\n<!--"),
    ("title", "Routine renewal <!-- the rest is hidden"),
    ("title", "x ` # | [click](http://evil) <img src=x onerror=y> *** ## &lt;"),
    (
        "description",
        "# Fake heading\n- [click](http://evil.example) | a | b |\n|---|---|\n`code` *bold* _it_ "
        "<b>html</b> <script>x</script>\n    indented code\n1. one\n+ plus\n> quote\n===\n---\n"
        "```\nfenced\n```\ntrailing backslash \\\n~~strike~~ ![img](x.png) &amp; done",
    ),
]


def _readme_html(change: Change) -> str:
    from markdown_it import MarkdownIt  # rich's Markdown parser; CommonMark plus GFM tables

    readme = render_change(change)["README.md"].decode("utf-8")
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(readme)


@pytest.mark.parametrize(("field", "text"), HOSTILE_TEXT)
def test_title_and_description_cannot_hide_or_restyle_the_readme(field: str, text: str) -> None:
    import html
    import re

    change = FIELDS[field](text)(contract_change())
    rendered = _readme_html(change)
    plain = _readme_html(contract_change())
    # every section of the normal README is still there, in the same structure
    assert re.findall(r"<h[1-6]>", rendered) == re.findall(r"<h[1-6]>", plain)
    assert rendered.count("<table>") == plain.count("<table>")
    for tag in ("<!--", "<b>", "<script", "<img", "<a ", "<code>`", "<em>", "<strong>", "<blockquote>"):
        assert rendered.count(tag) == plain.count(tag), tag
    top, _, _ = rendered.partition("<ul>")  # the title and description, before the facts list
    assert set(re.findall(r"</?([a-z0-9]+)", top)) <= {"h1", "p", "br"}
    shown = html.unescape(re.sub(r"<[^>]+>", "", top))
    if field == "title":
        assert shown.splitlines()[0] == f"Change {change.id}: {text}"
    else:
        for line in text.splitlines():
            assert line.strip() in shown, line


def test_escaping_keeps_ordinary_text_as_it_reads() -> None:
    assert render.md_text("Renew api.contoso.com (2027), keep client-cert check: on.") == (
        "Renew api.contoso.com (2027), keep client-cert check: on."
    )
