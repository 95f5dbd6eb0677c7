"""The steps behind the offline commands, so the CLI only parses and prints."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from generator import render
from generator.model import Change
from generator.record import write_record
from generator.render import iter_rendered, library_manifest, validate_change
from generator.signing import SIGNER_FILE, Signer, sign_files, sign_library
from generator.spec import load_spec, normalized_yaml


@dataclass(frozen=True)
class SignRequest:
    """`render --sign`: the PFX, its password (never printed or stored) and an optional RFC 3161 server."""

    pfx: Path
    password: str = field(repr=False)
    timestamp_url: str | None = None


def record_files(change: Change) -> Iterator[tuple[str, bytes]]:
    """Every file of the record but the manifest, one host at a time (memory stays flat)."""
    yield "change.yaml", normalized_yaml(change).encode()
    yield from iter_rendered(change)


def signed_record_files(change: Change, signer: Signer) -> Generator[tuple[str, bytes]]:
    """Every file of a signed record but the manifest, PowerShell files signed.

    The library is signed first and the host scripts are rendered against its signed bytes (they
    pin those hashes), then signed themselves; nothing is signed twice.
    """
    yield "change.yaml", normalized_yaml(change).encode()
    yield SIGNER_FILE, signer.certificate_file()
    section = signer.manifest_section()
    rendered: Callable[..., Iterator[tuple[str, bytes]]] = render.iter_rendered
    library_files: Callable[[], Mapping[str, bytes]] | None = getattr(render, "library_files", None)
    if library_files is None:  # a renderer whose scripts each carry their library: sign them all
        yield from sign_files(signer, rendered(change, signature=section))
        return
    library = sign_library(signer, library_files())
    yield from sign_files(signer, rendered(change, library=library, signature=section), passed=library)


def render_record(spec_path: Path, out_dir: Path, sign: SignRequest | None = None) -> Path:
    """Validate the spec, render every script and write the change record; returns its folder.

    Every value is validated, and with `sign` the signer checked, before the first byte is written,
    and the record appears only when complete, so bad input writes nothing. Files are signed on
    their way into the record's staging folder, so the manifest hashes the signed bytes.
    """
    change = load_spec(spec_path)
    validate_change(change)
    if sign is None:
        section = {"library": library_manifest()}  # the SslBind module's version and SHA-256s
        return write_record(out_dir, change.id, change.spec_sha256, record_files(change), section)
    # closing(): a failed write stops the signer threads before the signer's private folder goes
    with (
        Signer(sign.pfx, sign.password, sign.timestamp_url) as signer,
        closing(signed_record_files(change, signer)) as files,
    ):
        section = {"signature": signer.manifest_section()}
        return write_record(out_dir, change.id, change.spec_sha256, files, section)
