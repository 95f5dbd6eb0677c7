"""The record's integrity for the page: manifest hashes and Authenticode signatures, checked exactly
as `sslbind record check` checks them (`check_record`, `signing.verify_record`), so the page and
the command never disagree.

The verifier's `expired_on` note is left out: it depends on today's date, and the page must be the
same for the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from generator.errors import UserError
from generator.record import MANIFEST, check_record, read_manifest, sha256_hex
from generator.report.model import Integrity, Signatures
from generator.signing import verify_record

# The marker PowerShell's Authenticode signature block starts with (Set-AuthenticodeSignature and
# osslsigncode write the same block at the end of a .ps1/.psm1/.psd1).
SIGNATURE_BLOCK = b"# SIG # Begin signature block"
SIGNABLE = (".ps1", ".psm1", ".psd1")


def verified_signatures(record: Path, manifest: Mapping[str, object]) -> Signatures | None:
    """What the record check's verifier says; None when it cannot run here (no osslsigncode)."""
    try:
        found = verify_record(record, manifest)
    except UserError:
        return None
    if not found.signed:
        return Signatures("unsigned", "unsigned: rendered without --sign")
    signer = f"{found.subject} (thumbprint {found.thumbprint})"
    if found.problems:
        return Signatures(
            "broken", f"broken: {len(found.problems)} problem(s), signer {signer}", tuple(found.problems)
        )
    return Signatures("signed", f"signed by {signer}: {found.files} file(s), every signature valid")


def scanned_signatures(record: Path, files: list[str]) -> Signatures:
    """Without the verifier's tool: only whether signature blocks are there, never whether they are
    valid (the page says "not verified")."""
    scripts = [name for name in files if name.endswith(SIGNABLE)]
    signed = []
    for name in scripts:
        try:
            if SIGNATURE_BLOCK in (record / name).read_bytes():
                signed.append(name)
        except OSError:
            continue  # a missing script is already an integrity problem of its own
    if not signed:
        return Signatures("unsigned", f"unsigned: none of the {len(scripts)} script(s) carries a signature")
    return Signatures(
        "unknown",
        f"{len(signed)} of {len(scripts)} script(s) carry a signature block; not verified here "
        "(osslsigncode is missing; `sslbind record check` needs it too)",
    )


def read_integrity(record: Path) -> Integrity:
    manifest = read_manifest(record)
    listed = manifest["files"]
    assert isinstance(listed, dict)  # read_manifest guarantees it
    files = sorted((str(name), str(digest)) for name, digest in listed.items())
    signatures = verified_signatures(record, manifest) or scanned_signatures(record, [n for n, _ in files])
    return Integrity(
        problems=tuple(check_record(record)),
        files=tuple(files),
        manifest_sha256=sha256_hex((record / MANIFEST).read_bytes()),
        signatures=signatures,
    )
