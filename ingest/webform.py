"""Contact Us web-form submissions (SPEC 3.2): `Label: value` lines or an HTML table of pairs.

The form mailer's labels drift (a site redesign, a Spanish form, "E-mail" for "Email"), so
labels are normalized through an alias table and unknown labels are kept as they came:
an unexpected field is still information for the agent. The table is the built-in spellings
plus the operator's (`form_labels` in the settings, SPEC 3.2: "labels configurable"), so a
redesigned form needs a line of configuration, not a release. The Message field is always
last and may run over many lines, so everything after its label belongs to it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser

from ingest.mime import bound_html, html_to_text

#: Canonical label -> the spellings form mailers use (compared without case and accents).
LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "First Name": ("first name", "firstname", "given name", "nombre"),
    "Last Name": (
        "last name",
        "lastname",
        "surname",
        "family name",
        "apellido",
        "apellidos",
    ),
    "Email": (
        "email",
        "e-mail",
        "email address",
        "e-mail address",
        "correo electronico",
        "correo",
    ),
    "Phone": ("phone", "phone number", "telephone", "telefono", "numero de telefono"),
    "Account Number": (
        "account number",
        "account",
        "account no",
        "account #",
        "numero de cuenta",
        "cuenta",
    ),
    "Service Address": (
        "service address",
        "address",
        "street address",
        "direccion de servicio",
        "direccion",
    ),
    "City": ("city", "ciudad"),
    "ZIP": ("zip", "zip code", "zipcode", "postal code", "codigo postal"),
    "Topic": ("topic", "subject", "tema", "asunto"),
    "Preferred Language": (
        "preferred language",
        "language",
        "idioma preferido",
        "idioma",
    ),
    "Message": ("message", "comments", "comment", "question", "mensaje", "comentarios"),
}
MESSAGE = "Message"
#: Longest label, in words ("How did you hear about us").
LABEL_WORDS = 6

_SUBJECT = re.compile(r"^\s*contact us\s*:\s*(?P<topic>.*)$", re.IGNORECASE)
_LABEL_LINE = re.compile(
    r"^\s*[*_]*(?P<label>[^\W\d][\w .#/()'’-]{0,39}?)[*_]*\s*:[*_]*\s*(?P<value>.*)$"
)
_SPACES = re.compile(r"\s+")
_LANGUAGES = {
    "english": "en",
    "ingles": "en",
    "en": "en",
    "espanol": "es",
    "spanish": "es",
    "es": "es",
}


def _fold(label: str) -> str:
    """Lower case without accents, so "Teléfono" and "telefono" meet."""
    folded = label.strip().lower()
    if not folded.isascii():  # ASCII has no accents (and NFKD leaves it as it is)
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", folded)


class FormLabels:
    """The spellings that name each form field: the built-in table plus configured ones.

    A configured canonical name that is not built in (a new "Meter Number" field, say) is a
    field of its own; configured spellings of a built-in field add to the built-in ones.
    """

    def __init__(self, extra: Mapping[str, Sequence[str]] | None = None) -> None:
        aliases: dict[str, list[str]] = {label: [label, *spellings] for label, spellings in LABEL_ALIASES.items()}
        for label, spellings in (extra or {}).items():
            aliases.setdefault(label, [label]).extend(spellings)
        self.known = frozenset(aliases)
        self._canonical = {_fold(alias): label for label, spellings in aliases.items() for alias in spellings}

    def normalize(self, label: str) -> str:
        """The canonical name of a form label; an unknown label is kept, tidied."""
        tidy = _SPACES.sub(" ", label.strip().strip("*_:").strip())
        return self._canonical.get(_fold(tidy), tidy)


#: the built-in spellings alone
DEFAULT_LABELS = FormLabels()


def form_labels(extra: Mapping[str, Sequence[str]]) -> FormLabels:
    """The labels for the configured spellings (`Settings.form_labels`), built once per configuration."""
    if not extra:
        return DEFAULT_LABELS
    return _configured_labels(tuple(sorted((label, tuple(spellings)) for label, spellings in extra.items())))


@lru_cache(maxsize=8)
def _configured_labels(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> FormLabels:
    return FormLabels(dict(extra))


def normalize_label(label: str) -> str:
    """The canonical name of a form label by the built-in spellings; an unknown label is kept, tidied."""
    return DEFAULT_LABELS.normalize(label)


def subject_topic(subject: str) -> str | None:
    """The topic of a "Contact Us: <Topic>" subject; None for any other subject."""
    match = _SUBJECT.match(subject)
    return match.group("topic").strip() if match else None


def parse_form_text(text: str, labels: FormLabels = DEFAULT_LABELS) -> dict[str, str]:
    """Fields from `Label: value` lines; the Message field takes every line after its label.

    A line without a label continues the previous field; lines before the first label
    (a mailer's preamble) are skipped. Labels must look like labels (short, a few words,
    and a heading "A new submission:" with nothing after it is not one) so that a
    sentence with a colon never starts a field.
    """
    fields: dict[str, str] = {}
    last: str | None = None
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        match = _LABEL_LINE.match(line)
        words = len(match.group("label").split()) if match else 0
        if (
            match
            and words <= LABEL_WORDS
            and (match.group("value").strip() or words <= 3)
        ):
            last = labels.normalize(match.group("label"))
            if last == MESSAGE:
                rest = "\n".join([match.group("value"), *lines[index + 1 :]])
                fields[MESSAGE] = rest.strip()
                return fields
            fields[last] = match.group("value").strip()
        elif last is not None and line.strip():
            fields[last] = f"{fields[last]} {line.strip()}".strip()
    return fields


def parse_form_html(html: str, labels: FormLabels = DEFAULT_LABELS) -> dict[str, str]:
    """Fields from an HTML table whose rows are (label, value) cell pairs, th/td or td/td."""
    fields: dict[str, str] = {}
    tree = LexborHTMLParser(bound_html(html))
    for row in tree.css("tr"):
        cells = row.css("th, td")
        if len(cells) != 2:
            continue
        label = (cells[0].text(deep=True) or "").strip()
        if not label or len(label) > 60:
            continue
        fields[labels.normalize(label)] = html_to_text(cells[1].inner_html or "")
    return fields


def preferred_language(value: str) -> str | None:
    """ "en" or "es" from the form's Preferred Language; None when it says anything else."""
    return _LANGUAGES.get(_fold(value).strip(" ."))


def is_webform(
    from_addr: str,
    subject: str,
    webform_address: str,
    fields: dict[str, str],
    labels: FormLabels = DEFAULT_LABELS,
) -> bool:
    """From the site's form mailer, or a "Contact Us:" subject over a body that parses as a form.

    The subject alone is not enough: a customer may type "Contact Us: billing" by hand,
    and then the mail is ordinary customer mail.
    """
    if from_addr.lower() == webform_address.lower():
        return True
    known = {label for label in fields if label in labels.known}
    return subject_topic(subject) is not None and MESSAGE in known and len(known) >= 3


def read_form(text: str, html: list[str], labels: FormLabels = DEFAULT_LABELS) -> dict[str, str]:
    """The form's fields from the plain text, else from the first HTML table that has some."""
    fields = parse_form_text(text, labels)
    if MESSAGE in fields:
        return fields
    for document in html:
        table = parse_form_html(document, labels)
        if MESSAGE in table:
            return table
    return fields
