"""The spec's JSON Schema: valid draft 2020-12, accepts every good spec, refuses typical mistakes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from generator.binding import PATTERNS, SETTINGS
from generator.cli import cli
from generator.model import Connection
from generator.schema import spec_json_schema
from generator.spec_fields import CONNECTION

SPECS = Path(__file__).resolve().parent.parent / "specs"
GOOD = sorted(p for p in (SPECS / "good").iterdir() if p.suffix in (".yaml", ".json"))
EXAMPLE = Path(__file__).resolve().parent.parent.parent / "examples" / "renew-api.yaml"
# Mistakes the schema alone can see (the loader refuses them too, see tests/specs/bad/expected.yaml).
SCHEMA_BAD = [
    "version-2.yaml",
    "version-text.yaml",
    "unknown-top-key.yaml",
    "title-missing.yaml",
    "title-two-lines.yaml",
    "title-non-ascii.yaml",
    "registry-freshness.yaml",
    "change-id-space.yaml",
    "targets-empty.yaml",
    "bindings-empty.yaml",
    "binding-no-key.yaml",
    "binding-two-keys.yaml",
    "binding-unknown-key.yaml",
    "certhash-39.yaml",
    "certhash-spaces.yaml",
    "appid-short.yaml",
    "appid-unquoted-braces.yaml",
    "ccs-certhash.yaml",
    "ccs-quoted-port.yaml",
    "store-with-space.yaml",
    "onoff-enabled.yaml",
    "timer-too-big.yaml",
    "timer-negative.yaml",
    "mode-unknown.yaml",
    "swap-unknown.yaml",
    "swap-boolean.yaml",
    "defaults-swap-case.yaml",
    "swap-update-registry.yaml",
    "swap-replace-registry.yaml",
    "swap-update-scopedccs.yaml",
    "registry-flag.yaml",
    "secret-password.yaml",
    "connection-auth-unknown.yaml",
    "connection-typo.yaml",
    "connection-path-slash.yaml",
    "host-with-port.yaml",
    "hostnameport-underscore.yaml",
    "ipport-hostname.yaml",
]


class _EditorLoader(yaml.SafeLoader):
    """YAML as an editor's language server reads it: no YAML 1.1 timestamps (2026-11-27 stays text)."""


_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def document(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_EditorLoader)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", [EXAMPLE, *GOOD], ids=["examples/renew-api.yaml", *[p.name for p in GOOD]])
def test_good_specs_validate(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document(path))]
    assert errors == []


@pytest.mark.parametrize("name", SCHEMA_BAD)
def test_bad_specs_fail_the_schema(validator: jsonschema.Draft202012Validator, name: str) -> None:
    assert list(validator.iter_errors(document(SPECS / "bad" / name)))


def test_schema_is_draft_2020_12_and_closed() -> None:
    schema = spec_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    for name in ("connection", "target", "binding"):
        assert schema["$defs"][name]["additionalProperties"] is False
    assert schema["properties"]["defaults"]["additionalProperties"] is False
    assert schema["properties"]["change"]["additionalProperties"] is False


def test_every_setting_has_a_described_property_with_the_shared_pattern() -> None:
    binding = spec_json_schema()["$defs"]["binding"]["properties"]
    defaults = spec_json_schema()["properties"]["defaults"]["properties"]
    for setting in SETTINGS:
        for where in (binding, defaults):
            prop = where[setting.name]
            assert setting.name in prop["description"]
            if setting.kind in ("hash", "store", "ctlid"):
                assert prop["pattern"] == PATTERNS[setting.kind]
    assert binding["appid"]["anyOf"][0]["pattern"] == PATTERNS["guid"]


def test_swap_is_a_binding_and_defaults_option() -> None:
    schema = spec_json_schema()
    for where in (schema["$defs"]["binding"], schema["properties"]["defaults"]):
        swap = where["properties"]["swap"]
        assert (swap["enum"], swap["default"]) == (["auto", "update", "replace"], "auto")
        assert "netsh http update sslcert" in swap["description"]


def test_connection_keys_match_the_model() -> None:
    fields = [field.name for field in dataclasses.fields(Connection)]
    assert list(CONNECTION) == fields
    properties = spec_json_schema()["$defs"]["connection"]["properties"]
    assert list(properties) == fields
    assert properties["auth"]["enum"] == ["negotiate", "kerberos", "ntlm", "credssp", "basic", "certificate"]
    assert all(prop["description"] for prop in properties.values())


def test_schema_command_prints_sorted_json() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == spec_json_schema()
    assert result.output == json.dumps(spec_json_schema(), sort_keys=True, indent=2) + "\n"
