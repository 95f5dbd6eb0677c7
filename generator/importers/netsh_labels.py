"""Labels and value words of `netsh http show sslcert`, one table per display language.

English comes from generator.binding.SETTINGS (the labels live there, once). German and French are
**constructed, not verified**: no authentic complete sample is known (reference section 3.3), so the
importer says so in every spec it writes from them, and identity lines (hash, appid, ip:port) are
also recognized by the shape of their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from generator.binding import (
    CHECK_MODE_FRESHNESS,
    CHECK_MODE_VALUE,
    DISABLE,
    ENABLE,
    FLAGS_VALUE,
    SETTINGS,
    KeyKind,
)


@dataclass(frozen=True)
class KeyLabel:
    kind: KeyKind
    inferred: bool = False  # no sample shows this label; it is our best guess


@dataclass(frozen=True)
class NoParameter:
    """A line netsh shows for a bit that no `add sslcert` parameter sets."""

    field: str  # DefaultFlags or DefaultSslCertCheckMode
    bit: int  # 0: which bit it stands for is not public


@dataclass(frozen=True)
class LabelTable:
    language: str
    verified: bool
    header: tuple[str, ...]  # the "SSL Certificate bindings" title line(s)
    keys: Mapping[str, KeyLabel]
    settings: Mapping[str, str]  # label -> setting name
    no_parameter: Mapping[str, NoParameter]  # label -> the bit no `add sslcert` parameter sets
    extended: str  # the "Extended Properties" block title
    on_words: tuple[str, ...] = field(default=())
    off_words: tuple[str, ...] = field(default=())


CACHE_CLIENT_HELLO = NoParameter(FLAGS_VALUE, 0x8000)  # binding.EXTRA_FLAG_NAMES

ENGLISH = LabelTable(
    language="en",
    verified=True,
    header=("SSL Certificate bindings",),
    keys={
        "IP:port": KeyLabel(KeyKind.IPPORT),
        "Hostname:port": KeyLabel(KeyKind.HOSTNAMEPORT),
        "Central Certificate Store": KeyLabel(KeyKind.CCS),
        # No scoped-CCS sample is known (reference 3.1): both spellings are guesses.
        "Scoped Central Certificate Store": KeyLabel(KeyKind.SCOPEDCCS, inferred=True),
        "Scoped CCS": KeyLabel(KeyKind.SCOPEDCCS, inferred=True),
    },
    settings={s.label: s.name for s in SETTINGS},
    no_parameter={
        "Enable Caching Client Hello": CACHE_CLIENT_HELLO,
        # Printed by netsh builds from late 2025 (binding.py); only the first one's bit is known.
        "Use Revocation Freshness Time": NoParameter(CHECK_MODE_VALUE, CHECK_MODE_FRESHNESS),
        "Verify Revocation Using Cached URLs Only": NoParameter(CHECK_MODE_VALUE, 0),
        "Disable Authority Info Access": NoParameter(CHECK_MODE_VALUE, 0),
    },
    extended="Extended Properties",
    on_words=("Enabled", "Set"),
    off_words=("Disabled", "Not Set"),
)

# Constructed translations (unverified). Ordered as SETTINGS.
_GERMAN_SETTINGS = (
    "Zertifikathash",
    "Anwendungs-ID",
    "Zertifikatspeichername",
    "Clientzertifikatsperrung überprüfen",
    "Sperrung nur mit zwischengespeichertem Clientzertifikat überprüfen",
    "Verwendungsüberprüfung",
    "Aktualitätszeit für Sperrung",
    "Timeout für URL-Abruf",
    "CTL-Bezeichner",
    "CTL-Speichername",
    "DS-Zuordnungsverwendung",
    "Clientzertifikat aushandeln",
    "Verbindungen ablehnen",
    "HTTP2 deaktivieren",
    "QUIC deaktivieren",
    "TLS1.2 deaktivieren",
    "TLS1.3 deaktivieren",
    "Ältere TLS-Versionen deaktivieren",
    "OCSP-Heftung deaktivieren",
    "Tokenbindung aktivieren",
    "Erweiterte Ereignisse protokollieren",
    "Sitzungsticket aktivieren",
    "Sitzungs-ID deaktivieren",
)
_FRENCH_SETTINGS = (
    "Hachage du certificat",
    "ID de l'application",
    "Nom du magasin de certificats",
    "Vérifier la révocation des certificats clients",
    "Vérifier la révocation avec le certificat client mis en cache uniquement",
    "Vérification de l'utilisation",
    "Délai d'actualisation de la révocation",
    "Délai d'expiration de récupération de l'URL",
    "Identificateur CTL",
    "Nom du magasin CTL",
    "Utilisation du mappeur DS",
    "Négocier le certificat client",
    "Rejeter les connexions",
    "Désactiver HTTP2",
    "Désactiver QUIC",
    "Désactiver TLS1.2",
    "Désactiver TLS1.3",
    "Désactiver les versions TLS héritées",
    "Désactiver l'agrafage OCSP",
    "Activer la liaison de jetons",
    "Journaliser les événements étendus",
    "Activer le ticket de session",
    "Désactiver l'ID de session",
)

GERMAN = LabelTable(
    language="de",
    verified=False,
    # Title spellings seen in translations of the phrase; a title line carries nothing but is not
    # reported as unknown.
    header=("SSL-Zertifikatbindungen", "SSL-Zertifikatsbindungen"),
    keys={
        "IP:Port": KeyLabel(KeyKind.IPPORT),
        "Hostname:Port": KeyLabel(KeyKind.HOSTNAMEPORT),
        "Zentraler Zertifikatspeicher": KeyLabel(KeyKind.CCS),
        "Bereichsbezogener zentraler Zertifikatspeicher": KeyLabel(KeyKind.SCOPEDCCS, inferred=True),
    },
    settings=dict(zip(_GERMAN_SETTINGS, (s.name for s in SETTINGS), strict=True)),
    no_parameter={"Zwischenspeicherung von Client Hello aktivieren": CACHE_CLIENT_HELLO},
    extended="Erweiterte Eigenschaften",
    on_words=("Aktiviert", "Festgelegt"),
    off_words=("Deaktiviert", "Nicht festgelegt"),
)

FRENCH = LabelTable(
    language="fr",
    verified=False,
    header=("Liaisons de certificats SSL", "Liaisons de certificat SSL"),
    keys={
        "IP:port": KeyLabel(KeyKind.IPPORT),
        "Nom d'hôte:port": KeyLabel(KeyKind.HOSTNAMEPORT),
        "Magasin de certificats central": KeyLabel(KeyKind.CCS),
        "Magasin de certificats central étendu": KeyLabel(KeyKind.SCOPEDCCS, inferred=True),
    },
    settings=dict(zip(_FRENCH_SETTINGS, (s.name for s in SETTINGS), strict=True)),
    no_parameter={"Activer la mise en cache du Client Hello": CACHE_CLIENT_HELLO},
    extended="Propriétés étendues",
    on_words=("Activé", "Défini"),
    off_words=("Désactivé", "Non défini"),
)

TABLES: tuple[LabelTable, ...] = (ENGLISH, GERMAN, FRENCH)

# Values that mean "nothing here", in every language seen.
NULL_WORDS = ("(null)", "")


def fold(text: str) -> str:
    """Case- and spacing-blind form used for every comparison; typographic apostrophes made plain."""
    return " ".join(text.replace("\u2019", "'").casefold().split())


def onoff_words() -> dict[str, str]:
    """Every language's on/off words -> enable/disable (outputs may mix translated and English values)."""
    words: dict[str, str] = {}
    for table in TABLES:
        words.update({fold(w): ENABLE for w in table.on_words})
        words.update({fold(w): DISABLE for w in table.off_words})
    return words


def label_pattern(label: str) -> re.Pattern[str]:
    """A line holding `label`, any indentation and padding, then the first colon after it, then the value."""
    words = r"\s+".join(re.escape(w) for w in label.replace("\u2019", "'").split())
    return re.compile(rf"^\s*{words}\s*:(?P<value>.*)$", re.IGNORECASE)
