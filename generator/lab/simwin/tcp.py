"""`Get-NetTCPConnection` over the state's `listeners`: the rows it returns and the errors it writes.

On Windows the cmdlet comes from NetTCPIP, a CDXML module over the CIM class MSFT_NetTCPConnection
(ROOT/StandardCimv2). PowerShell's cmdletization filters by property and, when a filter matches
nothing, writes a non-terminating CimJobException (category ObjectNotFound), which
`-ErrorAction SilentlyContinue` hides and `$ErrorActionPreference = 'Stop'` turns into a throw.
Which error, per PowerShell's clientSideQuery.cs and messages seen on real hosts:

- no filter parameter: no error;
- one filter property: one error per value no row has, id `CmdletizationQuery_NotFound_<Property>`,
  "No MSFT_NetTCPConnection objects found with property 'LocalPort' equal to '8443'.  Verify the
  value of the property and retry." (two blanks, as Windows prints it);
- several (`-State Listen -LocalPort P`): one error when no row matches them all, id
  `CmdletizationQuery_NotFound`, naming the WQL query with the conditions in the cmdlet's
  parameter order: "No matching MSFT_NetTCPConnection objects found by CIM query for instances of
  the ROOT/StandardCimv2/MSFT_NetTCPConnection class on the  CIM server: SELECT * FROM
  MSFT_NetTCPConnection  WHERE ((LocalPort = P)) AND ((State = 2)). Verify query parameters and
  retry."

The lab models listening sockets only: every port in `listeners` is one row listening on 0.0.0.0,
owned by PID 4 (System, the owner Windows shows for HTTP.sys and other kernel listeners).
"""

from __future__ import annotations

from typing import Any

from generator.lab.state import State

CIM_CLASS = "MSFT_NetTCPConnection"
NAMESPACE = "ROOT/StandardCimv2"
# The filter parameters the lab's Get-NetTCPConnection takes, in the cmdlet's order (which is the
# order of the WHERE conditions).
FILTERS = ("LocalAddress", "LocalPort", "RemoteAddress", "RemotePort", "State", "OwningProcess")
# MSFT_NetTCPConnection.State: the names the cmdlet takes and the numbers WQL compares.
STATES = {
    "Closed": 1,
    "Listen": 2,
    "SynSent": 3,
    "SynReceived": 4,
    "Established": 5,
    "FinWait1": 6,
    "FinWait2": 7,
    "CloseWait": 8,
    "Closing": 9,
    "LastAck": 10,
    "TimeWait": 11,
    "DeleteTCB": 12,
    "Bound": 100,
}
SYSTEM_PID = 4
NOT_FOUND_ID = "CmdletizationQuery_NotFound"

Filters = dict[str, list[Any]]
Row = dict[str, Any]


def listeners(state: State) -> list[int]:
    return sorted({int(port) for port in state.get("listeners", [])})


def rows(state: State) -> list[Row]:
    return [
        {
            "LocalAddress": "0.0.0.0",
            "LocalPort": port,
            "RemoteAddress": "0.0.0.0",
            "RemotePort": 0,
            "State": "Listen",
            "OwningProcess": SYSTEM_PID,
        }
        for port in listeners(state)
    ]


def _canonical(name: str, value: Any) -> Any:
    """Strings compare case-blind (as CIM does), State by its name, numbers as numbers."""
    if name == "State":
        return next((s for s in STATES if s.lower() == str(value).lower()), str(value))
    if name in ("LocalAddress", "RemoteAddress"):
        return str(value).lower()
    return int(value)


def _has(row: Row, name: str, value: Any) -> bool:
    return bool(_canonical(name, row[name]) == _canonical(name, value))


def _matches(row: Row, filters: Filters) -> bool:
    return all(any(_has(row, name, v) for v in values) for name, values in filters.items())


def _wql_literal(name: str, value: Any) -> str:
    if name == "State":
        return str(STATES[_canonical(name, value)])
    if name in ("LocalAddress", "RemoteAddress"):
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(int(value))


def wql(filters: Filters) -> str:
    """The query cmdletization sends, as its not-found message quotes it (double blanks included)."""
    conditions = [
        "(" + " OR ".join(f"({name} = {_wql_literal(name, v)})" for v in filters[name]) + ")"
        for name in FILTERS
        if name in filters
    ]
    where = "".join((" AND " if i else " WHERE ") + c for i, c in enumerate(conditions))
    return f"SELECT * FROM {CIM_CLASS} {where}"


def _granular(name: str, values: list[Any], all_rows: list[Row]) -> list[Row]:
    """One filter property: an error for each value no row has."""
    missing = [v for v in values if not any(_has(row, name, v) for row in all_rows)]
    # The message shows the value as the parameter bound it: a State as its enum name.
    shown = [_canonical(name, v) if name == "State" else v for v in missing]
    return [
        {
            "id": f"{NOT_FOUND_ID}_{name}",
            "property": name,
            "value": value,
            "message": f"No {CIM_CLASS} objects found with property '{name}' equal to '{value}'."
            "  Verify the value of the property and retry.",
        }
        for value in shown
    ]


def _complex(filters: Filters) -> Row:
    """Several filter properties and no row matching them all: one error quoting the query."""
    query = f"CIM query for instances of the {NAMESPACE}/{CIM_CLASS} class on the  CIM server: {wql(filters)}"
    message = f"No matching {CIM_CLASS} objects found by {query}. Verify query parameters and retry."
    return {"id": NOT_FOUND_ID, "property": None, "value": CIM_CLASS, "message": message}


def _not_found(filters: Filters, found: list[Row], all_rows: list[Row]) -> list[Row]:
    if len(filters) == 1:
        ((name, values),) = filters.items()
        return _granular(name, values, all_rows)
    return [] if not filters or found else [_complex(filters)]


def query(state: State, filters: Filters) -> dict[str, Any]:
    """`{"rows": [...], "errors": [...]}` for Get-NetTCPConnection with these filter parameters."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"Get-NetTCPConnection: the lab does not filter by {sorted(unknown)[0]}")
    known = {s.lower() for s in STATES}
    bad = [str(v) for v in filters.get("State", []) if str(v).lower() not in known]
    if bad:
        raise ValueError(f"Get-NetTCPConnection: unknown -State {bad[0]}")
    filters = {name: list(values) for name, values in filters.items() if values}
    all_rows = rows(state)
    found = [row for row in all_rows if _matches(row, filters)]
    return {"rows": found, "errors": _not_found(filters, found, all_rows)}
