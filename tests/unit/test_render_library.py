"""The SslBind library module: one file per release, complete, spec-independent, pinned by every
host script, and the only code that touches Windows is the touchpoint wrappers."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

import pytest

from generator.pslibrary import calls_in, split_chunks
from generator.render import (
    LIBRARY_EXPORTS,
    LIBRARY_MANIFEST,
    LIBRARY_MODULE,
    PHASES,
    library,
    library_files,
    library_manifest,
    module_version,
    pinned_library,
    render_change,
)
from tests.ps.render_cases import broad_changes, contract_change, pester_changes

DEFINED = re.compile(r"^function ([A-Za-z-]+) \{\r?$", re.MULTILINE)


def test_every_library_function_name_is_recognised_as_a_call() -> None:
    names = list(library().functions())
    assert len(names) > 40
    assert all(calls_in(f"x {name} y") == {name} for name in names)


def test_the_module_defines_everything_it_calls_and_exports_the_entry_point() -> None:
    text = library_files()[LIBRARY_MODULE].decode("ascii")
    defined = set(DEFINED.findall(text))
    known = set(library().functions()) | set(LIBRARY_EXPORTS)
    assert {call for call in calls_in(text) if call in known} <= defined
    assert {f"Invoke-Ssl{phase.capitalize()}Phase" for phase in PHASES} <= defined
    assert "Export-ModuleMember -Function 'Invoke-SslPhase'\r\n" in text


def test_library_bytes_do_not_depend_on_the_spec() -> None:
    records = [render_change(change) for change in (contract_change(), *broad_changes())]
    records.append(render_change(pester_changes()["multi"]))
    for path in (LIBRARY_MODULE, LIBRARY_MANIFEST):
        assert len({record[path] for record in records}) == 1, path
        assert records[0][path] == library_files()[path]


def test_library_files_are_ascii_crlf() -> None:
    for path, data in library_files().items():
        data.decode("ascii")
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b""), path


def test_manifest_names_version_guid_and_explicit_exports() -> None:
    text = library_files()[LIBRARY_MANIFEST].decode("ascii")
    assert "RootModule = 'SslBind.psm1'" in text
    assert f"ModuleVersion = '{module_version()}'" in text
    assert re.search(r"GUID = '[0-9a-f-]{36}'", text)
    assert "FunctionsToExport = @('Invoke-SslPhase')" in text
    assert "CmdletsToExport = @()" in text and "*" not in text


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.1.0", "0.1.0"), ("1.2", "1.2"), ("3", "3.0"), ("1.2.0rc1", "1.2.0"), ("0.0.0+source", "0.0.0")],
)
def test_module_version_is_what_powershell_accepts(version: str, expected: str) -> None:
    assert module_version(version) == expected


def test_every_host_script_pins_the_library_it_is_rendered_against() -> None:
    files = render_change(contract_change())
    digest = hashlib.sha256(files[LIBRARY_MODULE]).hexdigest()
    scripts = {p: d.decode("ascii") for p, d in files.items() if p.startswith("hosts/")}
    assert len(scripts) == 6
    for text in scripts.values():
        assert pinned_library(text) == digest
        assert f"SslBind.psm1 SHA-256: {digest}" in text
    assert library_manifest()["files"] == {
        LIBRARY_MODULE: digest,
        LIBRARY_MANIFEST: hashlib.sha256(files[LIBRARY_MANIFEST]).hexdigest(),
    }


def test_scripts_pin_the_library_bytes_they_are_given() -> None:
    """The seam for signing: render against other (e.g. signed) library bytes, and every script
    pins exactly those; the record carries them unchanged."""
    signed = {path: data + b"# SIG # Begin signature block\r\n" for path, data in library_files().items()}
    files = render_change(contract_change(), library=signed)
    assert files[LIBRARY_MODULE] == signed[LIBRARY_MODULE]
    digest = hashlib.sha256(signed[LIBRARY_MODULE]).hexdigest()
    psd1 = hashlib.sha256(signed[LIBRARY_MANIFEST]).hexdigest()
    for path, data in files.items():
        if path.startswith("hosts/"):
            text = data.decode("ascii")
            assert pinned_library(text) == digest and psd1 in text
    readme = files["README.md"].decode()
    assert digest in readme and psd1 in readme


LINE_BASE = 104  # help, param() frame, library check and call (apply.ps1, the longest, ~96)
LINE_PER_BINDING = 1  # its -Binding default: one line, every setting named
BYTE_BASE = 4700  # apply.ps1 with one short binding: ~4,400 bytes
BYTE_PER_BINDING = 700  # a binding with every netsh parameter named: ~550 bytes


def test_host_scripts_grow_with_bindings_only() -> None:
    """A reviewer reads one host's change in a page or two: the library is not in the scripts."""
    base = contract_change()
    target = base.targets[0]
    for count in (1, 2, 10):
        bindings = tuple(
            replace(target.bindings[0], key=replace(target.bindings[0].key, value=f"10.0.0.{i}:443"))
            for i in range(count)
        )
        change = replace(base, targets=(replace(target, bindings=bindings),))
        for path, data in render_change(change).items():
            if path.startswith("hosts/"):
                lines = data.count(b"\n")
                assert lines <= LINE_BASE + LINE_PER_BINDING * count, (path, count, lines)
                assert len(data) <= BYTE_BASE + BYTE_PER_BINDING * count, (path, count, len(data))
    broad = broad_changes()[0]
    for path, data in render_change(broad).items():
        if path.startswith("hosts/"):
            host = next(t for t in broad.targets if path.startswith(f"hosts/{t.host.strip('[]')}"))
            assert data.count(b"\n") <= LINE_BASE + LINE_PER_BINDING * len(host.bindings), path
            assert len(data) <= BYTE_BASE + BYTE_PER_BINDING * len(host.bindings), path


def test_an_unclosed_function_is_refused() -> None:
    with pytest.raises(ValueError, match="no closing"):
        split_chunks("function Get-SslA {\n  }\n")


WINDOWS_CALLS = re.compile(
    r"Get-ItemProperty|Set-ItemProperty|Test-Path|Get-ChildItem|Get-Item\b|Remove-Item|New-Item|"
    r"&\s*netsh|\[Microsoft\.Win32|Registry\]::|\[System\.Security\.Cryptography\.X509|X509Store|"
    r"Security\.Principal|whoami|Out-File|Set-Content|Get-Content|Get-NetTCPConnection|Get-Process|"
    r"\$env:|System\.Net\.Sockets|System\.Net\.Security|Get-Acl|icacls",
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
        if c.name
        and c.origin == "lib/windows.ps1"
        and c.name.startswith(("Test-", "Get-", "Set-", "Invoke-", "New-", "Remove-", "Read-", "Initialize-"))
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
        "Get-SslLockFolderFacts",
        "Initialize-SslLockFolder",
        "New-SslLockFile",
        "Read-SslLockFile",
        "Remove-SslLockFile",
        "Get-SslWowArchitecture",
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
    line = next(x for x in library().text.splitlines() if x.strip().startswith("Set-ItemProperty "))
    assert line.rstrip().endswith("-Confirm:$false -WhatIf:$false")
