"""The spec's JSON Schema (draft 2020-12) for editor completion, and the `sslbind schema` command.

Built from the same tables the loader uses (`spec_fields`, `binding.SETTINGS`, `binding.PATTERNS`),
so a key or value shape cannot be added to one and forgotten in the other. The loader stays the
authority: some checks (IPv6 parsing, duplicates, cross-key rules) are only approximated here.
"""

from __future__ import annotations

import json
from typing import Any

import click

from generator import spec_fields as f
from generator import spec_values as sv
from generator.binding import PATTERNS, SETTINGS, UINT32_MAX, KeyKind, Setting

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
JsonObject = dict[str, Any]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"[0-9]{1,5}"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
IPPORT_PATTERN = rf"^(\*|{_OCTET}(\.{_OCTET}){{3}}|\[[0-9A-Fa-f:.]+\]):{_PORT}$"
NAMEPORT_PATTERN = rf"^(\*\.)?{_LABEL}(\.{_LABEL})*:{_PORT}$"
HOST_PATTERN = rf"^({_LABEL}(\.{_LABEL})*|\[?[0-9A-Fa-f:.]+\]?)$"
_PRINTABLE_ASCII_LINE = r"^[\x20-\x7e]+$"


def _port(description: str) -> JsonObject:
    return {"type": "integer", "minimum": 1, "maximum": 65535, "description": description}


def _setting_schema(setting: Setting) -> JsonObject:
    description = f.setting_description(setting)
    if setting.kind == "onoff":
        return {"enum": ["enable", "disable", True, False], "description": description}
    if setting.kind == "uint32":
        return {"type": "integer", "minimum": 0, "maximum": UINT32_MAX, "description": description}
    if setting.kind == "guid":
        patterns = [{"pattern": PATTERNS["guid"]}, {"pattern": sv.GUID_BARE_PATTERN}]
        return {"type": "string", "anyOf": patterns, "description": description}
    return {"type": "string", "pattern": PATTERNS[setting.kind], "description": description}


def _options_schema() -> JsonObject:
    return {
        "mode": {"enum": list(f.MODES), "default": "preserve", "description": f.OPTIONS["mode"]},
        "method": {"enum": list(f.METHODS), "default": "netsh", "description": f.OPTIONS["method"]},
        "swap": {"enum": list(f.SWAPS), "default": "auto", "description": f.OPTIONS["swap"]},
    }


def _settings_schema() -> JsonObject:
    return {setting.name: _setting_schema(setting) for setting in SETTINGS}


def _selectors_schema() -> JsonObject:
    return {
        KeyKind.IPPORT.value: {
            "type": "string",
            "pattern": IPPORT_PATTERN,
            "description": f.SELECTORS[KeyKind.IPPORT],
        },
        KeyKind.HOSTNAMEPORT.value: {
            "type": "string",
            "pattern": NAMEPORT_PATTERN,
            "description": f.SELECTORS[KeyKind.HOSTNAMEPORT],
        },
        KeyKind.CCS.value: _port(f.SELECTORS[KeyKind.CCS]),
        KeyKind.SCOPEDCCS.value: {
            "type": "string",
            "pattern": NAMEPORT_PATTERN,
            "description": f.SELECTORS[KeyKind.SCOPEDCCS],
        },
    }


def _binding_schema() -> JsonObject:
    no_hash = {"anyOf": [{"required": ["ccs"]}, {"required": ["scopedccs"]}]}
    registry = {
        "propertyNames": {"enum": [*f.SELECTOR_NAMES, *f.OPTIONS, *f.REGISTRY_SETTINGS]},
        "properties": {"swap": {"const": "auto"}},  # a registry write never deletes, adds or updates
    }
    no_update = [{"required": [kind.value]} for kind in KeyKind if kind not in f.UPDATE_KINDS]
    not_updated = {"properties": {"swap": {"enum": [s for s in f.SWAPS if s != "update"]}}}
    return {
        "type": "object",
        "description": "One HTTP.sys SSL binding: exactly one of ipport, hostnameport, ccs, scopedccs, "
        "and the netsh parameters to set.",
        "additionalProperties": False,
        "properties": {**_selectors_schema(), **_options_schema(), **_settings_schema()},
        "oneOf": [{"required": [name]} for name in f.SELECTOR_NAMES],
        "allOf": [
            {"if": no_hash, "then": {"not": {"required": ["certhash"]}}},
            {
                "if": {"required": ["method"], "properties": {"method": {"const": "registry"}}},
                "then": registry,
            },
            {"if": {"anyOf": no_update}, "then": not_updated},
        ],
    }


def _connection_schema() -> JsonObject:
    choices = f.connection_choices()
    properties: JsonObject = {}
    for name, description in f.CONNECTION.items():
        if name in choices:
            properties[name] = {"enum": list(choices[name]), "description": description}
        elif name == "port":
            properties[name] = _port(description)
        elif name.endswith("_timeout"):
            properties[name] = {"type": "integer", "minimum": 1, "maximum": 86400, "description": description}
        elif name == "path":
            properties[name] = {"type": "string", "pattern": sv.URL_PATH_PATTERN, "description": description}
        else:
            properties[name] = {"type": ["string", "null"], "minLength": 1, "description": description}
    return {"type": ["object", "null"], "additionalProperties": False, "properties": properties}


def _change_schema() -> JsonObject:
    return {
        "type": "object",
        "description": f.TOP["change"],
        "additionalProperties": False,
        "required": ["id", "title"],
        "properties": {
            "id": {"type": "string", "pattern": sv.CHANGE_ID_PATTERN, "description": f.CHANGE["id"]},
            "title": {
                "type": "string",
                "pattern": _PRINTABLE_ASCII_LINE,
                "maxLength": sv.MAX_TITLE,
                "description": f.CHANGE["title"],
            },
            "description": {"type": ["string", "null"], "description": f.CHANGE["description"]},
        },
    }


def _target_schema() -> JsonObject:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(f.REQUIRED_TARGET),
        "properties": {
            "host": {"type": "string", "pattern": HOST_PATTERN, "description": f.TARGET["host"]},
            "connection": {"$ref": "#/$defs/connection", "description": f.TARGET["connection"]},
            "bindings": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/binding"},
                "description": f.TARGET["bindings"],
            },
            "tls_address": {"type": "string", "minLength": 1, "description": f.TARGET["tls_address"]},
        },
    }


def spec_json_schema() -> JsonObject:
    """The JSON Schema of a spec, for editors (e.g. `# yaml-language-server: $schema=...`)."""
    return {
        "$schema": SCHEMA_DRAFT,
        "title": "sslbind spec",
        "description": "Desired HTTP.sys SSL bindings for `sslbind render`. See the product contract.",
        "type": "object",
        "additionalProperties": False,
        "required": list(f.REQUIRED_TOP),
        "properties": {
            "version": {"const": 1, "description": f.TOP["version"]},
            "change": _change_schema(),
            "connection": {"$ref": "#/$defs/connection", "description": f.TOP["connection"]},
            "defaults": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "description": f.TOP["defaults"],
                "properties": {**_options_schema(), **_settings_schema()},
            },
            "targets": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/target"},
                "description": f.TOP["targets"],
            },
        },
        "$defs": {
            "connection": _connection_schema(),
            "target": _target_schema(),
            "binding": _binding_schema(),
        },
    }


@click.command("schema")
def schema_command() -> None:
    """Print the spec's JSON Schema (draft 2020-12) for editor completion.

    Save it next to your specs (sslbind schema > sslbind.schema.json) and point your editor at it,
    e.g. with a first line `# yaml-language-server: $schema=./sslbind.schema.json`.
    """
    click.echo(json.dumps(spec_json_schema(), sort_keys=True, indent=2))
