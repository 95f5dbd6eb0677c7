"""What a handshake from the host received (doctor, import --host): decoding, wording, the spec's
NOTEs and warnings, the doctor's notes, and the library excerpt the pipeline sends."""

from __future__ import annotations

import re

import pytest

from generator.binding import KeyKind
from generator.doctor.report import TLS_SETTING, to_json, to_markdown, with_served
from generator.importers import served
from generator.importers.result import ImportResult
from generator.importers.spec_writer import import_spec, import_warnings
from generator.model import Binding, BindingKey
from generator.render import library

OLD, NEW = "1" * 40, "2" * 40
SNI = "hostnameport=api.contoso.com:443"


def entry(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "binding": SNI,
        "address": "10.0.0.5",
        "port": 443,
        "server_name": "api.contoso.com",
        "expected": NEW,
        "thumbprint": OLD,
        "protocol": "Tls13",
        "client_cert_requested": False,
        "result": "mismatch",
        "detail": "ip binding 10.0.0.5:443 answers before hostnameport api.contoso.com:443",
        "shadowed_by": "ipport=10.0.0.5:443",
    }
    return {**base, **fields}


def test_decode_and_words() -> None:
    document = {
        "collector": "sslbind-served",
        "tls": [entry(), entry(result="match", thumbprint=NEW, address="127.0.0.1")],
    }
    shadowed, own = served.decode(document)
    assert shadowed.shadowed_by == "ipport=10.0.0.5:443"
    assert str(shadowed) == (
        f"TLS from the host to 10.0.0.5:443 (SNI api.contoso.com): served {OLD} (Tls13), not its certhash "
        f"{NEW}: ip binding 10.0.0.5:443 answers before hostnameport api.contoso.com:443"
    )
    assert str(own).endswith(f"served {NEW} (Tls13), the binding's own certificate")
    (asks,) = served.decode(
        {
            "collector": "sslbind-served",
            "tls": [entry(result="match", thumbprint=NEW, client_cert_requested=True)],
        }
    )
    assert str(asks).endswith(
        f"served {NEW} (Tls13), asking for a client certificate, the binding's own certificate"
    )
    clm = served.Served("ipport=0.0.0.0:443", "not checked", detail="not checked: ConstrainedLanguage")
    assert str(clm) == "TLS from the host: not checked: ConstrainedLanguage"
    with pytest.raises(ValueError):
        served.decode({"tls": []})


def test_request_sends_no_certhash_for_central_store_kinds() -> None:
    bindings = [
        Binding(BindingKey(KeyKind.HOSTNAMEPORT, "api.contoso.com:443"), {"certhash": NEW}),
        Binding(BindingKey(KeyKind.SCOPEDCCS, "www.contoso.com:443"), {}),
    ]
    sent = served.request(bindings)
    assert [(s["subject"], s["port"], s["certhash"]) for s in sent] == [
        (SNI, 443, NEW),
        ("scopedccs=www.contoso.com:443", 443, None),
    ]


def test_import_writes_a_note_per_handshake_and_warns_on_another_certificate() -> None:
    binding = Binding(BindingKey(KeyKind.HOSTNAMEPORT, "api.contoso.com:443"), {"certhash": NEW})
    result = ImportResult("web01", "", "live registry", "", (binding,))
    seen = served.decode({"collector": "sslbind-served", "tls": [entry()]})
    text = import_spec(result, "web01", served=seen)
    assert f"        # NOTE: TLS from the host to 10.0.0.5:443 (SNI api.contoso.com): served {OLD}" in text
    assert "1 of 1 handshake(s) did not get the binding's own certificate" in text
    assert [w.code for w in import_warnings(result, served=seen)] == ["tls-served"]
    assert "TLS from the host" not in import_spec(result, "web01")  # offline: nothing is said


def test_excerpt_holds_the_handshake_functions_once_and_their_settings() -> None:
    text = library().excerpt([served.ENTRY])
    names = re.findall(r"^function (\S+) \{", text, re.MULTILINE)
    assert len(names) == len(set(names))
    assert {"Invoke-SslTlsSeen", "Test-SslTlsBinding", "Invoke-SslTlsHandshake", "Find-SslTlsShadow"} <= set(
        names
    )
    assert "Get-SslPortBinding" not in names  # the registry is read by sslbind, not again here
    assert "$script:SslTlsAttemptMs = @(3000, 6000, 9000)" in text
    assert "Invoke-SslTlsAttempt" in names
    functions = library().functions()
    for name in names:
        assert functions[name].text in text  # verbatim
    with pytest.raises(ValueError):
        library().excerpt(["Get-SslNoSuchThing"])


def test_doctor_notes_what_differs_never_a_failure() -> None:
    from tests.unit.test_doctor import document, run

    base = run(document())
    report = with_served(base, served.decode({"collector": "sslbind-served", "tls": [entry()]}))
    notes = [f for f in report.findings if f.setting == TLS_SETTING]
    assert [(f.severity, f.binding) for f in notes] == [("note", SNI)]
    assert len([f for f in with_served(report, report.served).findings if f.setting == TLS_SETTING]) == 1
    assert report.exit_code == base.exit_code
    assert "## TLS: which certificate a handshake from the host receives" in to_markdown(report)
    assert to_json(report)["tls"][0]["shadowed_by"] == "ipport=10.0.0.5:443"
