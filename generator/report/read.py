"""Read a change record into the report's typed view. Reads only the record; writes nothing.

A record that cannot be read as one (no manifest, an unreadable or invalid change.yaml) is a user
error: exit 2, one line. Anything a record can legitimately lack (a plan, a run, a run's result
after a killed client) is part of the view, and the page says so.
"""

from __future__ import annotations

from pathlib import Path

from generator.errors import EXIT_USAGE, UserError, local_io
from generator.model import Change
from generator.record import PLANS, read_manifest
from generator.remote.recordio import load_change
from generator.report.integrity import read_integrity
from generator.report.model import Report, TargetBinding
from generator.report.plan import read_plan, text
from generator.report.timeline import read_runs
from generator.safetext import shown


def targets(change: Change) -> tuple[TargetBinding, ...]:
    return tuple(
        TargetBinding(
            host=target.host,
            binding=str(binding.key),
            settings=tuple((name, text(value)) for name, value in sorted(binding.settings.items())),
            mode=binding.mode,
            swap=binding.swap,
        )
        for target in change.targets
        for binding in target.bindings
    )


def read_report(record: Path) -> Report:
    """The whole view of `record`; a folder that is not a readable record raises UserError (exit 2)."""
    if not record.is_dir():
        raise UserError(f"{record}: not a change record folder (give the folder `sslbind render` wrote)")
    try:
        with local_io("read the record", record):
            return _read(record)
    except UserError as error:  # a broken manifest or spec is bad input to `report`: exit 2
        raise UserError(str(error), EXIT_USAGE) from None
    except (TypeError, ValueError, ArithmeticError, RecursionError, KeyError, AttributeError) as error:
        # A value of a shape sslbind never writes that the readers above did not foresee: still
        # one line, never a traceback.
        raise UserError(
            f"{record}: a record file holds a value sslbind never writes ({type(error).__name__}: "
            f"{shown(error, 200)}); the record was edited or damaged: see `sslbind record check`",
            EXIT_USAGE,
        ) from None


def _read(record: Path) -> Report:
    manifest = read_manifest(record)
    change = load_change(record, manifest)
    plans = sorted((record / PLANS).glob("*.json"))
    return Report(
        change_id=change.id,
        title=change.title,
        description=change.description,
        tool_version=str(manifest.get("tool_version") or ""),
        created_at=str(manifest.get("created_at") or ""),
        spec_sha256=str(manifest.get("spec_sha256") or ""),
        hosts=tuple(t.host for t in change.targets),
        targets=targets(change),
        plan=read_plan(plans[-1]) if plans else None,
        plan_count=len(plans),
        runs=read_runs(record),
        integrity=read_integrity(record),
    )
