"""One machine named twice in a spec (adversarial run F4): refused before one run races itself."""

from __future__ import annotations

import pytest

from generator.remote.checks import plan_entry_problem, same_host_pairs


@pytest.mark.parametrize(
    ("hosts", "why"),
    [
        (["Web01", "web01"], "the same name"),
        (["web01.contoso.local", "WEB01.contoso.local."], "the same name"),
        (["web01", "web01.contoso.local"], "short name web01"),
        (["web01.contoso.local", "web01"], "short name web01"),
        (["127.0.0.1", "localhost"], "both resolve to 127.0.0.1"),
    ],
)
def test_two_names_of_one_machine_are_found(hosts: list[str], why: str) -> None:
    assert same_host_pairs(hosts) == [(hosts[0], hosts[1], why)]


@pytest.mark.parametrize(
    "hosts", [["web01.a.local", "web01.b.local"], ["127.0.0.1", "127.0.0.2"], ["web01", "web02"]]
)
def test_different_machines_are_not(hosts: list[str]) -> None:
    assert same_host_pairs(hosts, resolve=False) == []


def test_names_only_needs_no_dns() -> None:
    assert same_host_pairs(["127.0.0.1", "localhost"], resolve=False) == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("web01", "a host entry is not an object with a host name"),
        ({"host": "web01", "status": 3}, "host web01: status is not a string"),
        ({"host": "web01", "status": "pending", "capture": {"before": []}}, "host web01: capture has no"),
        (
            {"host": "web01", "status": "pending", "capture": {"before": [{}]}, "scripts": {"apply": 1}},
            "host web01: scripts is not a table",
        ),
    ],
)
def test_malformed_plan_entries_are_named(entry: object, problem: str) -> None:
    found = plan_entry_problem(entry)
    assert found is not None and found.startswith(problem)
