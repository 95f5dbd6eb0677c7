"""The steps behind the offline commands, so the CLI only parses and prints."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from generator.model import Change
from generator.record import write_record
from generator.render import iter_rendered, library_files, library_manifest, validate_change
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


def signed_record_files(
    change: Change, signer: Signer, library: Mapping[str, bytes]
) -> Generator[tuple[str, bytes]]:
    """Every file of a signed record but the manifest, PowerShell files signed.

    `library` is the signed library (`sign_library`): the host scripts are rendered against those
    bytes (they pin their hashes), then signed themselves; the library passes through unchanged.
    """
    yield "change.yaml", normalized_yaml(change).encode()
    yield SIGNER_FILE, signer.certificate_file()
    rendered = iter_rendered(change, library=library, signature=signer.manifest_section())
    yield from sign_files(signer, rendered, passed=library)


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
    with Signer(sign.pfx, sign.password, sign.timestamp_url) as signer:
        library = sign_library(signer, library_files())  # first: the host scripts pin these bytes
        section = {"library": library_manifest(library), "signature": signer.manifest_section()}
        # closing(): a failed write stops the signer threads before the signer's private folder goes
        with closing(signed_record_files(change, signer, library)) as files:
            return write_record(out_dir, change.id, change.spec_sha256, files, section)
