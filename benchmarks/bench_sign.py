"""Benchmark: what `render --sign` costs per signed file, and what `record check` costs to verify it.

Renders the same spec of HOSTS hosts x BINDINGS bindings unsigned and signed (a throwaway
self-signed code-signing PFX made here), and prints milliseconds per signed file for signing
(signed render minus unsigned render, wall time, osslsigncode runs on every core) and for
verification (`record check` of the signed record minus the unsigned one). Not a test: run it by hand,
`.venv/bin/python benchmarks/bench_sign.py [--hosts 50] [--bindings 10]`. Needs osslsigncode.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_render import spec_text
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator.record import check_record, read_manifest
from generator.signing import is_signed_path, verify_record
from generator.workflow import SignRequest, render_record

PASSWORD = "bench"


def make_pfx(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)  # a usual code-signing size
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sslbind bench signer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    encryption = serialization.BestAvailableEncryption(PASSWORD.encode())
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"bench", key, cert, None, encryption))
    return path


def timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and its children (osslsigncode), of `action`."""

    def cpu() -> float:
        mine, children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime

    start, cpu_start = time.perf_counter(), cpu()
    action()
    return time.perf_counter() - start, cpu() - cpu_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--bindings", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sign-") as tmp:
        root = Path(tmp)
        spec = root / "spec.yaml"
        spec.write_text(spec_text(args.hosts, args.bindings))
        sign = SignRequest(make_pfx(root / "bench.pfx"), PASSWORD)
        unsigned_s = timed(lambda: render_record(spec, root / "plain"))
        signed_s = timed(lambda: render_record(spec, root / "signed", sign))
        plain, signed = root / "plain" / "BENCH1", root / "signed" / "BENCH1"
        files = [n for n in read_manifest(signed)["files"] if is_signed_path(str(n))]  # type: ignore[union-attr]
        sizes = [(signed / n).stat().st_size - (plain / n).stat().st_size for n in files]
        check_plain_s = timed(lambda: check_record(plain))
        check_signed_s = timed(lambda: (check_record(signed), verify_record(signed, read_manifest(signed))))
    count = len(files)
    print(f"{args.hosts} hosts x {args.bindings} bindings, {count} signed files, {os.cpu_count()} cores")
    for label, (plain_wall, plain_cpu), (signed_wall, signed_cpu) in (
        ("signing", unsigned_s, signed_s),
        ("verifying", check_plain_s, check_signed_s),
    ):
        print(
            f"{label}: {(signed_wall - plain_wall) / count * 1000:.1f} ms/script wall (all cores), "
            f"{(signed_cpu - plain_cpu) / count * 1000:.1f} ms/script CPU "
            f"(unsigned {plain_wall:.2f} s, signed {signed_wall:.2f} s)"
        )
    print(f"signature block: {sum(sizes) / count:.0f} bytes/script; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
