"""PowerShell and Python build the same `netsh http add sslcert` line, across many random bindings.

The rendered prepare.ps1 runs once on the in-memory host (tests/ps/FakeHost.ps1) with a few hundred
bindings, half of them already present with random settings (preserve mode keeps those); each
command it prints must equal generator.binding.powershell_command_line for the same settings.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest

from generator.binding import (
    SETTINGS,
    UINT32_MAX,
    KeyKind,
    SettingValue,
    default_settings,
    netsh_add_arguments,
)
from generator.binding import powershell_command_line as python_line
from generator.model import Binding, BindingKey, Change, Connection, Target
from generator.pwsh import run_file
from generator.render import render_change, render_library

HERE = Path(__file__).resolve().parent
STORES = ("My", "WebHosting", "Root", "a.b-c_d")
CASES = 80


def random_value(rng: random.Random, name: str) -> SettingValue:
    setting = next(s for s in SETTINGS if s.name == name)
    if setting.kind == "onoff":
        return rng.choice(("enable", "disable"))
    if setting.kind == "uint32":
        return rng.choice((0, 1, 5000, UINT32_MAX))
    if setting.kind == "hash":
        return f"{rng.getrandbits(160):040x}"
    if setting.kind == "guid":
        return "{" + str(uuid.UUID(int=rng.getrandbits(128))) + "}"
    if setting.kind == "ctlid":
        return rng.choice(("ctl1", "My.Ctl-2", "x@y_z"))
    return rng.choice(STORES)


def random_settings(rng: random.Random, share: float) -> dict[str, SettingValue]:
    return {s.name: random_value(rng, s.name) for s in SETTINGS if rng.random() < share}


def ipv4_or_ipv6(index: int, port: int) -> tuple[str, ...]:
    return (f"10.0.{index % 250}.1:{port}", f"[::{index:x}]:{port}", f"0.0.0.0:{port}")


def random_key(rng: random.Random, index: int) -> BindingKey:
    port = 1000 + index
    kind = rng.choice(list(KeyKind))
    value = {
        KeyKind.IPPORT: rng.choice(ipv4_or_ipv6(index, port)),
        KeyKind.HOSTNAMEPORT: f"h{index}.example.com:{port}",
        KeyKind.CCS: str(port),
        KeyKind.SCOPEDCCS: f"s{index}.example.com:{port}",
    }[kind]
    return BindingKey(kind, value)


def argument(line: str, name: str, default: str | None = None) -> str:
    if f" {name}=" not in line and default is not None:
        return default  # left out at its default (certstorename of a ccs/scopedccs binding)
    return line.split(f" {name}=")[1].split()[0]


def build_cases(seed: int) -> tuple[Change, list[dict[str, object]], dict[str, str]]:
    """The change, the host's existing bindings, and the expected command line per binding."""
    rng = random.Random(seed)
    bindings, existing, expected = [], [], {}
    for index in range(CASES):
        key = random_key(rng, index)
        spec = random_settings(rng, 0.3)
        mode = rng.choice(("preserve", "exact"))
        present: dict[str, SettingValue] | None = None
        if rng.random() < 0.5:
            present = {**random_settings(rng, 0.5), "certhash": random_value(rng, "certhash")}
            present["appid"] = random_value(rng, "appid")
            existing.append({"kind": key.kind.value, "key": key.value, "settings": present})
        else:
            spec.setdefault("appid", random_value(rng, "appid"))
        if present is None or mode == "exact":
            spec.setdefault("certhash", random_value(rng, "certhash"))
        merged: dict[str, SettingValue] = {**default_settings()}
        if present is not None and mode == "preserve":
            merged.update(present)
        if present is not None and "appid" not in spec:
            merged["appid"] = present["appid"]
        merged.update(spec)
        bindings.append(Binding(key, spec, mode=mode))
        expected[str(key)] = python_line(netsh_add_arguments(key.kind, key.value, merged))
    target = Target("equiv", Connection(), tuple(bindings))
    change = Change(id="EQUIV", title="equivalence", targets=(target,))
    return change, existing, expected


@pytest.mark.pwsh
def test_powershell_builds_the_same_command_as_python(pwsh: str, tmp_path: Path) -> None:
    change, existing, expected = build_cases(seed=20261127)
    for relative, data in render_change(change).items():  # the record: the script loads lib/SslBind
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    script = tmp_path / "hosts/equiv/prepare.ps1"
    library = tmp_path / "lib.ps1"
    library.write_text(render_library(), encoding="ascii")
    certificates = [
        {"store": argument(line, "certstorename", "MY"), "thumbprint": argument(line, "certhash")}
        for line in expected.values()
        if "certhash=" in line
    ]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"certificates": certificates, "bindings": existing}), encoding="utf-8")
    args = ["-Library", str(library), "-Script", str(script), "-StateFile", str(state)]
    result = run_file(HERE / "prepare_on_fake_host.ps1", args, pwsh=pwsh, timeout=600)
    assert result.ok, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"] in ("changes_pending", "unchanged"), report["error"]
    got = {b["binding"]: b["command_line"] for b in report["bindings"]}
    assert len(got) == CASES
    assert {k: v for k, v in got.items() if expected[k] != v} == {}
    ccs = [line for key, line in got.items() if key.startswith(("ccs=", "scopedccs="))]
    assert ccs and any("certstorename=" not in line for line in ccs), "ccs lines leave out the default store"
    motivating_like = [line for line in got.values() if "'" in line]
    assert motivating_like, "every line quotes the appid"
