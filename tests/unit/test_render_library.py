"""The library cut per script: complete (every function a script calls is in it) and minimal."""

from __future__ import annotations

import re

import pytest

from generator.pslibrary import Library, calls_in, split_chunks
from generator.render import PHASES, _phase_library, library

DEFINED = re.compile(r"^function ([A-Za-z-]+) \{$", re.MULTILINE)


def test_every_library_function_name_is_recognised_as_a_call() -> None:
    names = [c.name for c in library().chunks if c.name]
    assert len(names) > 40
    assert all(calls_in(f"x {name} y") == {name} for name in names)


@pytest.mark.parametrize("phase", PHASES)
def test_each_phase_library_defines_everything_it_calls(phase: str) -> None:
    text = _phase_library(phase)
    defined = set(DEFINED.findall(text))
    known = {c.name for c in library().chunks if c.name}
    assert {call for call in calls_in(text) if call in known} <= defined
    assert f"Invoke-Ssl{phase.capitalize()}Phase" in defined


def test_touchpoints_are_in_every_script_and_unused_logic_is_not() -> None:
    for phase in PHASES:
        text = _phase_library(phase)
        for wrapper in ("Invoke-SslNetsh", "Get-SslRegistryValue", "Set-SslRegistryDword"):
            assert f"function {wrapper} {{" in text
    assert "function Restore-SslBinding {" not in _phase_library("prepare")
    assert "function Restore-SslBinding {" in _phase_library("apply")


def test_split_and_closure_on_a_small_library() -> None:
    source = (
        "# top\n$x = 1\n"
        "function Get-SslA {\n    Get-SslB\n}\n\n"
        "function Get-SslB {\n    1\n}\n\n"
        "function Get-SslC {\n    2\n}\n"
    )
    chunks = split_chunks(source)
    assert [c.name for c in chunks] == [None, "Get-SslA", None, "Get-SslB", None, "Get-SslC"]
    cut = Library([(source, False)]).for_script("Get-SslA")
    assert "function Get-SslB" in cut and "function Get-SslC" not in cut and "$x = 1" in cut


def test_an_unclosed_function_is_refused() -> None:
    with pytest.raises(ValueError, match="no closing"):
        split_chunks("function Get-SslA {\n  }\n")


WINDOWS_CALLS = re.compile(
    r"Get-ItemProperty|Set-ItemProperty|Test-Path|Get-ChildItem|Get-Item\b|Remove-Item|New-Item|"
    r"&\s*netsh|\[Microsoft\.Win32|Registry\]::|\[System\.Security\.Cryptography\.X509|X509Store|"
    r"Security\.Principal|whoami|Out-File|Set-Content|Get-Content|Get-NetTCPConnection|Get-Process|"
    r"\$env:|System\.Net\.Sockets|System\.Net\.Security",
    re.IGNORECASE,
)


def _code_only(text: str) -> str:
    """PowerShell text without comments and single-quoted strings (messages may name cmdlets)."""
    text = re.sub(r"'(?:[^']|'')*'", "''", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_only_the_touchpoint_wrappers_reach_windows() -> None:
    """docs/windows-touchpoints.md: registry, certificate store and netsh only through lib/windows.ps1."""
    wrappers = {
        c.name: c.text
        for c in library().chunks
        if c.name and c.always and c.name.startswith(("Test-", "Get-", "Set-", "Invoke-", "New-", "Remove-"))
    }
    assert set(wrappers) >= {
        "Invoke-SslNetsh",
        "Test-SslRegistryKey",
        "Get-SslRegistrySubkeyName",
        "Get-SslRegistryValue",
        "Set-SslRegistryDword",
        "Get-SslStoreCertificate",
        "Test-SslElevated",
        "Test-SslPortListening",
        "Get-SslLockPath",
        "New-SslLockFile",
        "Get-SslLockText",
        "Remove-SslLockFile",
        "Get-SslProcessStart",
        "Set-SslResultFile",
        "Invoke-SslTlsHandshake",
    }
    for chunk in library().chunks:
        if chunk.name in wrappers:
            continue
        assert not WINDOWS_CALLS.search(_code_only(chunk.text)), (
            f"{chunk.name or 'top-level code'} touches Windows directly"
        )
    assert all(WINDOWS_CALLS.search(text) for text in wrappers.values())


def test_registry_write_never_asks_again() -> None:
    # ShouldProcess is decided once per script; Set-ItemProperty must not prompt or honour -WhatIf.
    line = next(x for x in library().full().splitlines() if x.strip().startswith("Set-ItemProperty "))
    assert line.rstrip().endswith("-Confirm:$false -WhatIf:$false")
