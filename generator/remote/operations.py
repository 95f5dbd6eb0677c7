"""plan, apply, verify and rollback over a whole change record: the library behind the CLI commands.

Each operation checks its inputs before any host is touched (record integrity, a plan to apply,
connection settings, passwords, confirmation), then runs the per-host flow on the fleet and writes
what happened into the record: plans/<stamp>.json for plan, runs/<stamp>/ for apply and rollback.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from rich.console import Console

from generator.errors import EXIT_FAILED, EXIT_MANUAL, EXIT_OK, EXIT_USAGE, UserError
from generator.model import Change
from generator.record import LOCK_FILE, RecordError, add_plan, new_run, read_manifest, utc_stamp
from generator.remote import checks, flow, sources, tls_client
from generator.remote.connection import Credentials, Endpoint, Overrides, resolve, warnings_for
from generator.remote.display import Progress, no_undo_lines, plan_lines, safe, summary_table
from generator.remote.events import Events, now_iso
from generator.remote.fleet import DEFAULT_FORKS, Fleet, FleetResult, HostOutcome
from generator.remote.recordio import Record, latest_plan, open_trusted
from generator.remote.runlog import RESULT_FILE, RUN_FILE, unfinished_lines, write_json
from generator.remote.runner import RequestCounter
from generator.remote.runwriter import RunWriter
from generator.remote.signals import StopFlag, deferred

Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class RunOptions:
    overrides: Overrides = field(default_factory=Overrides)
    forks: int = DEFAULT_FORKS
    timeout: float = 600.0
    hosts: tuple[str, ...] = ()
    counter: RequestCounter | None = None
    settle: float = 30.0
    tls: bool = False  # --tls: also handshake from this machine to every binding (tls_client)
    lock_wait: int | None = None  # --lock-wait: the scripts' -LockWait; None leaves their default
    require_signers: tuple[str, ...] = ()  # --require-signer thumbprints (signing.required_signers)


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
    if options.require_signers:
        raise UserError(
            f"{source}: a spec renders an unsigned record, and --require-signer refuses one: "
            "give the signed RECORD instead"
        )
    from generator.spec import load_spec

    change = load_spec(source)
    checks.refuse_same_host(change)
    targets = {t.host: t for t in change.targets}
    hosts = _selected(change, options.hosts)
    credentials.collect(resolve(h, targets[h].connection, options.overrides) for h in hosts)


def _endpoints(
    record: Record, hosts: Sequence[str], options: RunOptions, console: Console
) -> dict[str, Endpoint]:
    endpoints = {h: resolve(h, record.target(h).connection, options.overrides) for h in hosts}
    for endpoint in endpoints.values():
        for warning in warnings_for(endpoint):
            console.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False)
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
        checks.refuse_same_host(record.change)
        self.hosts = list(hosts)
        self.endpoints = _endpoints(record, self.hosts, options, console)
        credentials.collect(self.endpoints.values())  # ask before any host is touched
        self.credentials = credentials
        self.events = Events()
        self.prior_file: Callable[[str], Path] | None = None
        self.stop = StopFlag()  # set by SIGINT, SIGTERM or SIGHUP: no new host starts

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
            self.options.lock_wait,
        )

    def run(
        self, title: str, work: Callable[[flow.HostContext], HostOutcome], progress: Console, crash_exit: int
    ) -> FleetResult:
        fleet = Fleet(self.events, self.options.forks, crash_exit, self.stop)
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
    record = open_trusted(record_path, options.require_signers)
    _warn_unfinished(record.path, console)
    run = _Run(record, options, credentials, console, _selected(record.change, options.hosts))
    started = now_iso()
    result = run.run("plan", flow.plan_host, progress, EXIT_FAILED)
    run.summarize("plan", result)
    for line in plan_lines(result.outcomes):
        console.print(safe(line), highlight=False, soft_wrap=True)
    document = _document(
        "plan",
        record,
        result,
        started_at=started,
        finished_at=now_iso(),
        manifest_sha256=record.manifest_sha256,
    )
    with deferred(run.stop):  # a plan is stored whole, with its sidecar, or not at all
        path = add_plan(record.path, document)
    document["plan_file"] = str(path)
    console.print(f"plan stored in {path}", highlight=False)
    return Report(document, result.exit_code)


def verify(
    record_path: Path, options: RunOptions, credentials: Credentials, console: Console, progress: Console
) -> Report:
    """Read-only drift check; nothing is written."""
    record = open_trusted(record_path, options.require_signers)
    _warn_unfinished(record.path, console)
    run = _Run(record, options, credentials, console, _selected(record.change, options.hosts))
    work = flow.verify_host
    if options.tls:
        work = lambda ctx: tls_client.after_verify(record.target(ctx.host), flow.verify_host(ctx))  # noqa: E731
    result = run.run("verify", work, progress, EXIT_FAILED)
    run.summarize("verify", result)
    _tls_lines(console, result.outcomes, options.tls)
    return Report(_document("verify", record, result), result.exit_code)


# --- apply and rollback -------------------------------------------------------------------------


def _planned_hosts(record: Record, hosts: Sequence[str]) -> tuple[Path, dict[str, dict[str, Any]]]:
    found = latest_plan(record.path)
    if found is None:
        raise UserError(f"{record.path}: no plan yet; run `sslbind plan {record.path}` and review it first")
    path, document = found
    if document.get("manifest_sha256") != record.manifest_sha256:
        raise UserError(f"{path}: the plan was made for another manifest; run plan again", EXIT_FAILED)
    planned = checks.planned_hosts(path, document)
    return path, {h: planned[h] for h in hosts if h in planned}


def _confirm_or_stop(confirm: Confirm | None, question: str) -> None:
    if confirm is not None and not confirm(question):
        raise UserError(
            "not confirmed; nothing was changed (answer yes on a terminal, or pass --yes)", EXIT_USAGE
        )


LOCK_MODE = 0o600  # only the owner can open it, so no other local user can hold its lock


@contextlib.contextmanager
def _exclusive(record_path: Path) -> Iterator[None]:
    """One apply or rollback per record at a time: a lock file inside the record, whatever TMPDIR
    says, that only the record's owner can open (record check knows it). `filelock` takes an OS
    lock on it (flock on Linux and macOS, LockFileEx on Windows), released when the process dies."""
    path = record_path / LOCK_FILE
    if path.is_symlink():  # the lock is never followed out of the record
        raise UserError(f"{path}: the record's lock is a symbolic link; remove it", EXIT_FAILED)
    lock = FileLock(path, timeout=0, mode=LOCK_MODE, fallback_to_soft=False)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"{record_path}: another apply or rollback of this record is running") from None
    except OSError as error:
        raise UserError(f"{path}: cannot open the record's lock: {error.strerror}", EXIT_FAILED) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _refusal_recorded(record_path: Path, kind: str) -> Iterator[None]:
    """A refusal with exit 1 (tampered record, plan for another manifest) leaves a run saying so.

    Usage errors (exit 2) change nothing anywhere, as the contract says, so they are not recorded.
    A record that cannot take the note (read-only, full) does not hide the refusal itself.
    """
    try:
        yield
    except UserError as error:
        if error.exit_code != EXIT_USAGE and (record_path / "manifest.json").is_file():
            document = {"kind": kind, "refused": str(error), "exit_code": error.exit_code, "at": now_iso()}
            with contextlib.suppress(OSError, RecordError), new_run(record_path, utc_stamp()) as folder:
                write_json(folder / RUN_FILE, document)
                write_json(folder / RESULT_FILE, document)
        raise


def _warn_unfinished(record: Path, console: Console) -> None:
    for line in unfinished_lines(record):
        console.print(f"[yellow]{safe(line)}[/]", highlight=False, soft_wrap=True)


def _execute(
    run: _Run,
    kind: str,
    header: dict[str, Any],
    work: Callable[[flow.HostContext], HostOutcome],
    prior_of: Callable[[str], dict[str, Any]],
    progress: Console,
) -> tuple[RunWriter, FleetResult]:
    """Open the run folder and run `work` on every host, each written ahead (see runwriter)."""
    try:
        writer = RunWriter(run.record.path, run.events, kind, {"change_id": run.record.change.id, **header})
    except OSError as error:
        raise UserError(
            f"{run.record.path}: cannot start a run record ({error.strerror or error}); nothing was changed",
            EXIT_FAILED,
        ) from None
    run.prior_file = writer.prior_file
    result = run.run(kind, writer.guard(work, prior_of), progress, EXIT_MANUAL)
    return writer, result


def _close(run: _Run, kind: str, writer: RunWriter, result: FleetResult, **extra: Any) -> Report:
    """Complete and seal the run, print the summary; the report reflects any record failure."""
    document = _document(kind, run.record, result, run=writer.folder.name, finished_at=now_iso(), **extra)
    if run.stop.signal_name:
        document["signal"] = run.stop.signal_name
    document, outcomes = writer.finish(document, result.outcomes)
    final = FleetResult(outcomes, result.interrupted)
    run.summarize(kind, final)
    for problem in writer.problems:
        run.console.print(
            f"[bold red]record not fully written:[/] {safe(problem)}", highlight=False, soft_wrap=True
        )
    _say_manual(run.console, outcomes)
    return Report(document, final.exit_code)


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
        record = open_trusted(record_path, options.require_signers)
        hosts = _selected(record.change, options.hosts)
        plan_path, planned = _planned_hosts(record, hosts)
    _warn_unfinished(record.path, console)
    todo = [h for h in hosts if planned.get(h, {}).get("status") == "pending"]
    skipped = [_skip(h, planned.get(h)) for h in hosts if h not in todo]
    run = _Run(record, options, credentials, console, todo)
    for line in no_undo_lines({h: planned[h] for h in todo}, accept_no_undo):
        console.print(safe(line), highlight=False, soft_wrap=True)
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
    # From here until the run is sealed a stop signal only stops new hosts starting.
    with deferred(run.stop):
        writer, result = _execute(
            run,
            "apply",
            header,
            lambda ctx: _apply_host(ctx, planned[ctx.host], accept_no_undo, options.tls),
            lambda host: dict(planned[host]["capture"]),
            progress,
        )
        by_host = {o.host: o for o in [*skipped, *result.outcomes]}
        result = FleetResult([by_host[h] for h in hosts], result.interrupted)
        report = _close(run, "apply", writer, result, plan=plan_path.name, accept_no_undo=accept_no_undo)
    _tls_lines(console, result.outcomes, options.tls)
    return report


def _apply_host(
    ctx: flow.HostContext, planned: Mapping[str, Any], accept_no_undo: bool, tls: bool
) -> HostOutcome:
    outcome = flow.apply_host(ctx, planned, accept_no_undo)
    return tls_client.after_apply(ctx.record.target(ctx.host), outcome) if tls else outcome


def _tls_lines(console: Console, outcomes: Sequence[HostOutcome], everything: bool) -> None:
    """What the handshakes saw: every binding with --tls, else only what did not match."""
    for outcome in outcomes:
        for line in tls_client.lines(outcome, everything):
            console.print(safe(line), highlight=False, soft_wrap=True)


def _skip(host: str, planned: Mapping[str, Any] | None) -> HostOutcome:
    if planned is None:
        return HostOutcome(host, "refused", EXIT_FAILED, "not in the latest plan; run plan again")
    if planned.get("status") == "no-change":
        return HostOutcome(host, "no-change", EXIT_OK, "nothing to do (per the plan)")
    return HostOutcome(
        host,
        "refused",
        EXIT_FAILED,
        f"the plan failed for this host: {planned.get('summary')}; fix that and run plan again, then apply",
    )


def _say_manual(console: Console, outcomes: Sequence[HostOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status == "manual":
            console.print(
                f"[bold red]{safe(outcome.host)} NEEDS A PERSON:[/] {safe(outcome.summary)}",
                highlight=False,
                soft_wrap=True,
            )


def rollback(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
    run_stamp: str | None = None,
) -> Report:
    """Restore, host by host, the prior state of the apply run that changed it (or `run_stamp`)."""
    with _exclusive(record_path):
        return _rollback(record_path, options, credentials, console, progress, confirm, run_stamp)


def _rollback(
    record_path: Path,
    options: RunOptions,
    credentials: Credentials,
    console: Console,
    progress: Console,
    confirm: Confirm | None,
    run_stamp: str | None,
) -> Report:
    with _refusal_recorded(record_path, "rollback"):
        record = open_trusted(record_path, options.require_signers)
        hosts = _selected(record.change, options.hosts)
        found, problems = sources.sources(record.path, hosts, run_stamp)
    _warn_unfinished(record.path, console)
    todo = [h for h in hosts if h in found]
    refused = {h: HostOutcome(h, "refused", EXIT_FAILED, why) for h, why in problems.items()}
    run = _Run(record, options, credentials, console, todo)
    origin = {h: found[h].run.name for h in todo}
    shown = ", ".join(f"{h} (run {origin[h]}{', resuming' if found[h].resume else ''})" for h in todo)
    _confirm_or_stop(
        confirm if todo else None,
        f"Roll back change {record.change.id} on {len(todo)} host(s) to the state captured before: {shown}?",
    )
    names = sorted(set(origin.values()))
    header = {
        "source_run": names[0] if len(names) == 1 else None,
        "sources": origin,
        "hosts": todo,
        "started_at": now_iso(),
        "forks": options.forks,
    }
    with deferred(run.stop):
        writer, result = _execute(
            run,
            "rollback",
            header,
            lambda ctx: flow.rollback_host(
                ctx, found[ctx.host].prior, found[ctx.host].applied, found[ctx.host].resume
            ),
            lambda host: found[host].prior.raw,
            progress,
        )
        by_host = {o.host: o for o in [*refused.values(), *result.outcomes]}
        result = FleetResult([by_host[h] for h in hosts], result.interrupted)
        return _close(run, "rollback", writer, result, source_run=header["source_run"], sources=origin)
