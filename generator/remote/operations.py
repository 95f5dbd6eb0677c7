"""plan, apply, verify and rollback over a whole change record: the library behind the CLI commands.

Each operation checks its inputs before any host is touched (record integrity, a plan to apply,
connection settings, passwords, confirmation), then runs the per-host flow on the fleet and writes
what happened into the record: plans/<stamp>.json for plan, runs/<stamp>/ for apply and rollback.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_USAGE, UserError
from generator.model import Change
from generator.record import add_plan, new_run, read_manifest, utc_stamp, write_new_file
from generator.remote import flow
from generator.remote.connection import Credentials, Endpoint, Overrides, resolve, warnings_for
from generator.remote.display import Progress, no_undo_lines, plan_lines, summary_table
from generator.remote.events import Events, JsonlSink, now_iso
from generator.remote.fleet import DEFAULT_FORKS, Fleet, FleetResult, HostOutcome
from generator.remote.recordio import (
    RUN_FILE,
    Record,
    latest_plan,
    latest_run,
    open_record,
    read_json,
    refuse_if_tampered,
)
from generator.remote.runner import RequestCounter
from generator.remote.scriptio import Capture
from generator.render import host_dir

Confirm = Callable[[str], bool]
RESULT_FILE = "result.json"
PRIOR_FILE = "prior.json"


@dataclass(frozen=True)
class RunOptions:
    overrides: Overrides = field(default_factory=Overrides)
    forks: int = DEFAULT_FORKS
    timeout: float = 600.0
    hosts: tuple[str, ...] = ()
    counter: RequestCounter | None = None
    settle: float = 30.0


@dataclass
class Report:
    """The command's JSON document (also what --json prints) and its exit code."""

    document: dict[str, Any]
    exit_code: int


# --- inputs -------------------------------------------------------------------------------------


def record_for(source: Path, out_dir: Path, console: Console) -> Path:
    """A record for `plan`: the folder given, or the spec rendered into out_dir (reused if the same)."""
    if source.is_dir():
        read_manifest(source)
        return source
    from generator.spec import load_spec
    from generator.workflow import render_record

    change = load_spec(source)
    existing = out_dir / change.id
    if existing.exists():
        manifest = read_manifest(existing)
        if manifest.get("spec_sha256") != change.spec_sha256:
            raise UserError(
                f"{existing} already holds change {change.id} rendered from a different spec; a record "
                "is never overwritten: plan that record, or give this spec a new change.id"
            )
        console.print(f"using change record {existing} (rendered from this spec)", highlight=False)
        return existing
    record = render_record(source, out_dir)
    console.print(f"rendered change record {record}", highlight=False)
    return record


@contextlib.contextmanager
def readable_record(source: Path) -> Iterator[Path]:
    """A record to read from: the folder given, or the spec rendered into a temporary folder."""
    if source.is_dir():
        read_manifest(source)
        yield source
        return
    from generator.workflow import render_record

    with tempfile.TemporaryDirectory(prefix="sslbind-verify-") as tmp:
        yield render_record(source, Path(tmp))


def _selected(change: Change, hosts: Sequence[str]) -> list[str]:
    known = [t.host for t in change.targets]
    unknown = [h for h in hosts if h not in known]
    if unknown:
        raise UserError(f"--host {unknown[0]}: not a host of change {change.id} ({', '.join(known)})")
    return [h for h in known if not hosts or h in hosts]


def preflight(source: Path, options: RunOptions, credentials: Credentials) -> None:
    """For a SPEC: refuse bad hosts, unsafe connection settings and missing passwords (exit 2)
    before a record is rendered, so bad input writes nothing anywhere."""
    if source.is_dir():
        return
    from generator.spec import load_spec

    change = load_spec(source)
    targets = {t.host: t for t in change.targets}
    hosts = _selected(change, options.hosts)
    credentials.collect(resolve(h, targets[h].connection, options.overrides) for h in hosts)


def _endpoints(
    record: Record, hosts: Sequence[str], options: RunOptions, console: Console
) -> dict[str, Endpoint]:
    endpoints = {h: resolve(h, record.target(h).connection, options.overrides) for h in hosts}
    for endpoint in endpoints.values():
        for warning in warnings_for(endpoint):
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    return endpoints


class _Run:
    """Shared set-up of one operation: endpoints, passwords, events, contexts, the fleet."""

    def __init__(
        self,
        record: Record,
        options: RunOptions,
        credentials: Credentials,
        console: Console,
        hosts: Sequence[str],
    ) -> None:
        self.record, self.options, self.console = record, options, console
        self.hosts = list(hosts)
        self.endpoints = _endpoints(record, self.hosts, options, console)
        credentials.collect(self.endpoints.values())  # ask before any host is touched
        self.credentials = credentials
        self.events = Events()
        self.prior_file: Callable[[str], Path] | None = None

    def context(self, host: str) -> flow.HostContext:
        endpoint = self.endpoints[host]
        return flow.HostContext(
            self.record,
            endpoint,
            self.credentials.for_endpoint(endpoint),
            self.events,
            self.options.timeout,
            self.options.counter,
            self.options.settle,
            self.prior_file,
        )

    def run(
        self, title: str, work: Callable[[flow.HostContext], HostOutcome], progress: Console, crash_exit: int
    ) -> FleetResult:
        fleet = Fleet(self.events, self.options.forks, crash_exit)
        with Progress(progress, self.hosts, title) as display:
            self.events.add_listener(display)
            return fleet.run(self.hosts, lambda host: work(self.context(host)))

    def summarize(self, title: str, result: FleetResult) -> None:
        self.console.print(summary_table(f"{title}: {self.record.change.id}", result.outcomes))
        if result.interrupted:
            self.console.print("interrupted: hosts not started are listed as not-started", highlight=False)


def _document(kind: str, record: Record, result: FleetResult, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "change_id": record.change.id,
        "record": str(record.path),
        "exit_code": result.exit_code,
        "interrupted": result.interrupted,
        "hosts": [o.to_json() for o in result.outcomes],
        **extra,
    }


# --- plan and verify ----------------------------------------------------------------------------


def plan(
    record_path: Path, options: RunOptions, credentials: Credentials, console: Console, progress: Console
) -> Report:
    """Read-only capture of every host; the plan is stored in the record whatever the outcome."""
    refuse_if_tampered(record_path)
    record = open_record(record_path)
    run = _Run(record, options, credentials, console, _selected(record.change, options.hosts))
    started = now_iso()
    result = run.run("plan", flow.plan_host, progress, EXIT_FAILED)
    run.summarize("plan", result)
    for line in plan_lines(result.outcomes):
        console.print(line, highlight=False, soft_wrap=True)
    document = _document(
        "plan",
        record,
        result,
        started_at=started,
        finished_at=now_iso(),
        manifest_sha256=record.manifest_sha256,
    )
    path = add_plan(record.path, document)
    document["plan_file"] = str(path)
    console.print(f"plan stored in {path}", highlight=False)
    return Report(document, result.exit_code)


def verify(
    record_path: Path, options: RunOptions, credentials: Credentials, console: Console, progress: Console
) -> Report:
    """Read-only drift check; nothing is written."""
    refuse_if_tampered(record_path)
    record = open_record(record_path)
    run = _Run(record, options, credentials, console, _selected(record.change, options.hosts))
    result = run.run("verify", flow.verify_host, progress, EXIT_FAILED)
    run.summarize("verify", result)
    return Report(_document("verify", record, result), result.exit_code)


# --- apply and rollback -------------------------------------------------------------------------


def _planned_hosts(record: Record, hosts: Sequence[str]) -> tuple[Path, dict[str, dict[str, Any]]]:
    found = latest_plan(record.path)
    if found is None:
        raise UserError(f"{record.path}: no plan yet; run `sslbind plan {record.path}` and review it first")
    path, document = found
    if document.get("manifest_sha256") != record.manifest_sha256:
        raise UserError(f"{path}: the plan was made for another manifest; run plan again", EXIT_FAILED)
    planned = {str(h["host"]): h for h in document.get("hosts", []) if isinstance(h, dict)}
    return path, {h: planned[h] for h in hosts if h in planned}


def _confirm_or_stop(confirm: Confirm | None, question: str) -> None:
    if confirm is not None and not confirm(question):
        raise UserError(
            "not confirmed; nothing was changed (answer yes on a terminal, or pass --yes)", EXIT_USAGE
        )


def _write_json(path: Path, value: Any) -> None:
    write_new_file(path, (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode())


def _host_file(folder: Path, host: str, name: str) -> Path:
    return folder / "hosts" / host_dir(host) / name


def _record_outcomes(folder: Path, outcomes: Sequence[HostOutcome]) -> None:
    for outcome in outcomes:
        _write_json(_host_file(folder, outcome.host, RESULT_FILE), outcome.to_json())
        prior = outcome.details.get("prior")
        if prior is not None:
            _write_json(_host_file(folder, outcome.host, PRIOR_FILE), prior)


@contextlib.contextmanager
def _run_folder(record: Record, run: _Run, kind: str, header: Mapping[str, Any]) -> Iterator[Path]:
    """runs/<stamp>/ with run.json first and events.jsonl as it happens; sealed on exit."""
    with new_run(record.path, utc_stamp()) as folder:
        _write_json(folder / RUN_FILE, {"kind": kind, "change_id": record.change.id, **header})
        sink = JsonlSink(folder / "events.jsonl")
        run.events.add_listener(sink)
        run.prior_file = lambda host: _host_file(folder, host, PRIOR_FILE)
        try:
            yield folder
        finally:
            sink.close()


@contextlib.contextmanager
def _exclusive(record_path: Path) -> Iterator[None]:
    """One apply or rollback per record at a time on this machine (a lock outside the record, so
    the record holds only what its manifests cover)."""
    digest = hashlib.sha256(str(record_path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"sslbind-{digest}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{record_path}: another apply or rollback of this record is running") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _refusal_recorded(record_path: Path, kind: str) -> Iterator[None]:
    """A refusal with exit 1 (tampered record, plan for another manifest) leaves a run saying so.

    Usage errors (exit 2) change nothing anywhere, as the contract says, so they are not recorded.
    """
    try:
        yield
    except UserError as error:
        if error.exit_code != EXIT_USAGE and (record_path / "manifest.json").is_file():
            with new_run(record_path, utc_stamp()) as folder:
                document = {
                    "kind": kind,
                    "refused": str(error),
                    "exit_code": error.exit_code,
                    "at": now_iso(),
                }
                _write_json(folder / RUN_FILE, document)
                _write_json(folder / RESULT_FILE, document)
        raise


def apply(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
    accept_no_undo: bool = False,
) -> Report:
    """Run the planned change on every pending host (one apply.ps1 pipeline each).

    `accept_no_undo` (--accept-no-undo) is passed to every host's apply.ps1: it then changes bindings
    it has proven it cannot restore instead of refusing the host; the run log records it.
    """
    with _exclusive(record_path):
        return _apply(record_path, options, credentials, console, progress, confirm, accept_no_undo)


def _apply(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
    accept_no_undo: bool,
) -> Report:
    with _refusal_recorded(record_path, "apply"):
        refuse_if_tampered(record_path)
        record = open_record(record_path)
        hosts = _selected(record.change, options.hosts)
        plan_path, planned = _planned_hosts(record, hosts)
    todo = [h for h in hosts if planned.get(h, {}).get("status") == "pending"]
    skipped = [_skip(h, planned.get(h)) for h in hosts if h not in todo]
    run = _Run(record, options, credentials, console, todo)
    for line in no_undo_lines({h: planned[h] for h in todo}, accept_no_undo):
        console.print(line, highlight=False, soft_wrap=True)
    _confirm_or_stop(
        confirm if todo else None,
        f"Apply change {record.change.id} to {len(todo)} host(s): {', '.join(todo)}?",
    )
    header = {
        "plan": plan_path.name,
        "hosts": todo,
        "started_at": now_iso(),
        "forks": options.forks,
        "accept_no_undo": accept_no_undo,
    }
    with _run_folder(record, run, "apply", header) as folder:
        result = run.run(
            "apply",
            lambda ctx: flow.apply_host(ctx, planned[ctx.host], accept_no_undo),
            progress,
            EXIT_MANUAL,
        )
        by_host = {o.host: o for o in [*skipped, *result.outcomes]}
        result = FleetResult([by_host[h] for h in hosts], result.interrupted)
        run.summarize("apply", result)
        _record_outcomes(folder, result.outcomes)
        document = _document(
            "apply",
            record,
            result,
            plan=plan_path.name,
            run=folder.name,
            finished_at=now_iso(),
            accept_no_undo=accept_no_undo,
        )
        _write_json(folder / RESULT_FILE, document)
    _say_manual(console, result.outcomes)
    return Report(document, result.exit_code)


def _skip(host: str, planned: Mapping[str, Any] | None) -> HostOutcome:

    if planned is None:
        return HostOutcome(host, "refused", EXIT_FAILED, "not in the latest plan; run plan again")
    if planned.get("status") == "no-change":
        return HostOutcome(host, "no-change", EXIT_OK, "nothing to do (per the plan)")
    return HostOutcome(
        host, "refused", EXIT_FAILED, f"the plan failed for this host: {planned.get('summary')}"
    )


def _say_manual(console: Console, outcomes: Sequence[HostOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status == "manual":
            console.print(
                f"[bold red]{outcome.host} NEEDS A PERSON:[/] {outcome.summary}",
                highlight=False,
                soft_wrap=True,
            )


def _after_apply(result: Mapping[str, Any]) -> Capture | None:
    """The state the apply left on a host: apply.ps1's 'after', or the state re-captured after it."""
    script_result = result.get("result")
    if isinstance(script_result, dict) and script_result.get("after"):
        return Capture({"before": script_result["after"]})
    after = result.get("after")
    return Capture(after) if isinstance(after, dict) else None


def _priors(record: Record, hosts: Sequence[str]) -> tuple[Path, dict[str, tuple[Capture, Capture | None]]]:
    """Per host: (prior state captured by the last apply, the state that apply left, if known)."""
    found = latest_run(record.path, ("apply",))
    if found is None:
        raise UserError(f"{record.path}: no apply run to roll back")
    folder, _ = found
    priors: dict[str, tuple[Capture, Capture | None]] = {}
    for host in hosts:
        path = _host_file(folder, host, PRIOR_FILE)
        if path.is_file():
            result = _host_file(folder, host, RESULT_FILE)
            after = _after_apply(read_json(result)) if result.is_file() else None
            priors[host] = (Capture.from_raw(read_json(path)), after)
    return folder, priors


def rollback(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
) -> Report:
    """Restore the prior state the last apply captured, host by host."""
    with _exclusive(record_path):
        return _rollback(record_path, options, credentials, console, progress, confirm)


def _rollback(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
) -> Report:
    with _refusal_recorded(record_path, "rollback"):
        refuse_if_tampered(record_path)
        record = open_record(record_path)
        source, priors = _priors(record, _selected(record.change, options.hosts))
    todo = list(priors)
    run = _Run(record, options, credentials, console, todo)
    _confirm_or_stop(
        confirm if todo else None,
        f"Roll back change {record.change.id} on {len(todo)} host(s) to the state captured by run "
        f"{source.name}: {', '.join(todo)}?",
    )
    header = {"source_run": source.name, "hosts": todo, "started_at": now_iso(), "forks": options.forks}
    with _run_folder(record, run, "rollback", header) as folder:
        result = run.run(
            "rollback", lambda ctx: flow.rollback_host(ctx, *priors[ctx.host]), progress, EXIT_MANUAL
        )
        run.summarize("rollback", result)
        _record_outcomes(folder, result.outcomes)
        document = _document(
            "rollback", record, result, source_run=source.name, run=folder.name, finished_at=now_iso()
        )
        _write_json(folder / RESULT_FILE, document)
    _say_manual(console, result.outcomes)
    return Report(document, result.exit_code)
