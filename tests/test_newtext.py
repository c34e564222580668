"""New-text extraction: quoted history, forwards and signatures removed from replies.

Small hand-written cases pin each rule; the corpus tests score the whole extractor against
other projects' expected outputs and fail if the score drops below what was reached.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from functools import partial

import pytest

from eteam.settings import Settings
from ingest.newtext import (
    _IGNORECASE_ONLY,
    _MARKER_TAIL,
    _MARKER_TAIL_LOWER,
    _MARKER_TAIL_REACH,
    _WROTE_WORDS,
    _lowered_match_possible,
    classify_lines,
    extract_new_text,
)
from ingest.parse import parse_message
from tests.bounded_cost import ORDINARY_TEXT, assert_costs_like_ordinary, ordinary
from tests.corpus_paths import corpus_dir
from tests.unicode_case import ignorecase_only


def normalized(text: str) -> str:
    """Whitespace-insensitive form: the corpora differ from us only in blank lines and spaces."""
    return re.sub(r"\s+", " ", text).strip()


def score(cases: list[tuple[str, str, str]]) -> tuple[float, float]:
    """Mean difflib ratio and exact-match rate (after whitespace normalization)."""
    ratios = []
    for _, given, expected in cases:
        got, want = normalized(extract_new_text(given)), normalized(expected)
        ratios.append(difflib.SequenceMatcher(None, got, want).ratio())
    exact = sum(ratio == 1.0 for ratio in ratios) / len(ratios)
    return sum(ratios) / len(ratios), exact


# --- rules, one small case each -------------------------------------------------------------


def test_on_date_wrote_cuts_the_quote() -> None:
    text = "My bill is too high.\n\nOn Mon, Nov 23, 2026 at 9:00 AM LADWP <contactus@ladwp.example> wrote:\n> We received your request.\n"
    assert extract_new_text(text) == "My bill is too high."


def test_wrapped_wrote_line_over_two_lines() -> None:
    text = "Yes, please.\n\nOn Mon, Nov 23, 2026 at 9:00 AM LADWP Customer Service <\ncontactus@ladwp.example> wrote:\n\n> Do you want a payment plan?\n"
    assert extract_new_text(text) == "Yes, please."


def test_spanish_escribio() -> None:
    text = "Mi factura es muy alta.\n\nEl lun, 23 nov 2026 a las 9:00, LADWP <contactus@ladwp.example> escribió:\n> Gracias por escribirnos.\n"
    assert extract_new_text(text) == "Mi factura es muy alta."


def test_original_message_separator() -> None:
    text = "Still no answer.\n\n-----Original Message-----\nFrom: LADWP\nSent: Monday\nSubject: Your request\n\nOld text\n"
    assert extract_new_text(text) == "Still no answer."


def test_outlook_header_block_without_separator() -> None:
    text = "See below.\n\nFrom: LADWP <contactus@ladwp.example>\nSent: Monday, November 23, 2026 9:00 AM\nTo: Maria\nSubject: RE: bill\n\nOld text\n"
    assert extract_new_text(text) == "See below."


def test_spanish_outlook_header_block() -> None:
    text = "Gracias.\n\nDe: LADWP <contactus@ladwp.example>\nEnviado: lunes, 23 de noviembre de 2026\nPara: Maria\nAsunto: RE: factura\n\nTexto viejo\n"
    assert extract_new_text(text) == "Gracias."


def test_forwarded_message_with_comment_keeps_the_comment() -> None:
    text = "Please look at this notice.\n\n---------- Forwarded message ---------\nFrom: Someone <a@b.example>\nDate: Mon\nSubject: Notice\nTo: me\n\nNotice text\n"
    assert extract_new_text(text) == "Please look at this notice."


def test_bare_forward_gives_the_forwarded_body() -> None:
    text = "---------- Forwarded message ---------\nFrom: Someone <a@b.example>\nDate: Mon\nSubject: Notice\nTo: me\n\nThe forwarded words.\n"
    assert extract_new_text(text) == "The forwarded words."


def test_bottom_posted_reply() -> None:
    text = "On Mon, Nov 23, 2026, LADWP <contactus@ladwp.example> wrote:\n> Question?\n\nMy answer below the quote.\n"
    assert extract_new_text(text) == "My answer below the quote."


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "Answers inline.\nOn Mon, Nov 23, 2026, LADWP <contactus@ladwp.example> wrote:\n> Account number?\n\n1234567890\n\n> Address?\n\n123 Main St\n"
    result = extract_new_text(text)
    assert "1234567890" in result and "123 Main St" in result and "wrote:" not in result


def test_signature_delimiter_and_mobile_signature() -> None:
    assert (
        extract_new_text("Power is out.\n\n-- \nMaria Lopez\nAcme Corp\n")
        == "Power is out."
    )
    assert extract_new_text("Power is out.\n\nSent from my iPhone\n") == "Power is out."
    assert extract_new_text("Sin luz.\n\nEnviado desde mi iPhone\n") == "Sin luz."


def test_signoff_block_removed_but_kept_when_it_carries_digits() -> None:
    assert (
        extract_new_text("Please call me.\n\nThanks,\nMaria Lopez\n")
        == "Please call me."
    )
    kept = extract_new_text("Please call me.\n\nThanks,\nMaria Lopez\n213-555-0100\n")
    assert "213-555-0100" in kept


def test_only_quotes_keeps_the_quote_and_empty_stays_empty() -> None:
    assert extract_new_text("> Only a quote.\n") == "> Only a quote."
    assert extract_new_text("") == ""
    assert extract_new_text("\n\n  \n") == ""


def test_line_kinds() -> None:
    lines = ["Hello", "", "> quoted", "-- ", "Sent from my iPhone"]
    assert classify_lines(lines) == "teqds"


def test_hostile_inputs_cost_like_ordinary_replies() -> None:
    hostile = [
        "On 2020 x@y wrote something:\n" * 5000,
        "2020-01-01 " + "<aaaa " * 20000 + ":",
        "a" * 100_000 + ":",
        "> q\nt\n" * 20000,
        "10:00 " + "<" * 50000 + "x@y>:",
        "- " * 50000 + "x",
    ]
    for text in hostile:
        usual = ordinary(ORDINARY_TEXT, len(text))
        assert_costs_like_ordinary(partial(extract_new_text, text), partial(extract_new_text, usual), text[:20])


def test_separator_on_the_last_line() -> None:
    """Used to raise IndexError, which made parse_message keep the whole raw message as text."""
    assert extract_new_text("Please see below.\n\n-----Original Message-----") == (
        "Please see below."
    )
    assert classify_lines(["Hi", "---------- Forwarded message ---------"]) == "tb"
    raw = b"From: a@b.example\n\nPlease see below.\n\n-----Original Message-----\n"
    parsed = parse_message(raw, Settings())
    assert parsed.new_text == "Please see below." and parsed.defects == []


def test_markers_in_any_case_and_with_letters_only_ignorecase_matches() -> None:
    for verb in ("WROTE", "Escribió", "wrıtes", "ſchrieb"):  # dotless i, long s
        text = f"Yes, please.\n\nOn Mon, Nov 23, 2026, LADWP <a@b.example> {verb}:\n> Old.\n"
        assert extract_new_text(text) == "Yes, please.", verb


def test_lowered_searches_see_every_character_ignorecase_would_match() -> None:
    assert _WROTE_WORDS == _WROTE_WORDS.lower()
    needed = ignorecase_only({char for char in _WROTE_WORDS if char.isalpha()})
    assert needed and all(_IGNORECASE_ONLY.fullmatch(char) for char in needed)


@pytest.mark.parametrize(
    "line",
    ["Two questions:", "x" * 200 + "wrote", "Am 1. Jan schrieb X <a@b.example>:", "--", "-"]
    + ["Maria SKREV", "написал(а)", "someone napisał(a)", "NAPISAŁ(A)", "ends in ſent"],
)
def test_marker_tail_test_agrees_with_the_full_search(line: str) -> None:
    tail = line[-_MARKER_TAIL_REACH:]
    quick = _lowered_match_possible(_MARKER_TAIL_LOWER, tail) and _MARKER_TAIL.search(tail)
    assert bool(quick) == bool(_MARKER_TAIL.search(line))


# --- corpus scores ------------------------------------------------------------------------


def discourse_cases() -> list[tuple[str, str, str]]:
    """discourse/email_reply_trimmer: test/emails/X.txt -> test/trimmed/X.txt."""
    base = corpus_dir("replies", "discourse-email_reply_trimmer", "test")
    return [
        (
            path.stem,
            path.read_text(encoding="utf-8"),
            (base / "trimmed" / path.name).read_text(encoding="utf-8"),
        )
        for path in sorted((base / "emails").glob("*.txt"))
    ]


def crisp_cases() -> list[tuple[str, str, str]]:
    """crisp email-reply-parser: fixtures with an exact expected first fragment or visible text.

    expected_extracted.json was pulled from test.js with a regex that kept JavaScript's
    line-continuation as a literal backslash-n; that artefact is undone here.
    """
    base = corpus_dir("replies", "crisp-email-reply-parser")
    expected = json.loads(
        (base / "expected_extracted.json").read_text(encoding="utf-8")
    )
    cases = []
    for name, entry in sorted(expected.items()):
        key = next(k for k in entry if k != "test_function")
        given = (base / "test" / "fixtures" / f"{name}.txt").read_text(encoding="utf-8")
        cases.append((name, given, entry[key].replace("\\n\n", "\n")))
    return cases


def talon_cases() -> list[tuple[str, str, str]]:
    """mailgun/talon's inline plain-text cases.

    Looked at only after tuning on discourse and crisp; a few general markers ("sent:",
    dashed "---- X wrote ----", a Date:/To: header block) were then added from its misses.
    The remaining misses are differences of intent (talon keeps forwarded messages whole).
    """
    path = corpus_dir("replies", "talon") / "text_quotations_cases.json"
    return [
        (case["test"], case["input"], case["expected_reply"])
        for case in json.loads(path.read_text("utf-8"))
    ]


@pytest.mark.parametrize(
    ("corpus", "cases", "mean_floor", "exact_floor"),
    [
        # Measured: discourse 0.993 mean / 0.953 exact (the misses keep sign-offs we drop),
        # crisp 1.000 / 1.000, talon 0.952 / 0.875. mail-parser-reply 1.36 scored 0.590 / 0.344
        # on discourse and 0.922 / 0.449 on crisp.
        ("discourse", discourse_cases, 0.98, 0.92),
        ("crisp", crisp_cases, 0.98, 0.95),
        ("talon", talon_cases, 0.93, 0.85),
    ],
)
def test_corpus_score(
    corpus: str,
    cases: Callable[[], list[tuple[str, str, str]]],
    mean_floor: float,
    exact_floor: float,
) -> None:
    loaded = cases()
    mean, exact = score(loaded)
    print(
        f"\nnew-text score {corpus}: mean difflib ratio {mean:.3f}, exact {exact:.3f} over {len(loaded)} cases"
    )
    assert mean >= mean_floor
    assert exact >= exact_floor


def test_talon_standard_replies_through_parse_message() -> None:
    """Whole .eml replies from real clients (Gmail, Outlook, Apple Mail...) end to end.

    Expected: `<name>_reply_text` when present, else "Hello". Measured 0.873 mean / 10 of 12
    exact; the two misses (iphone, sparrow) expect the signature kept, which SPEC 3.3 removes.
    """
    base = corpus_dir("replies", "talon", "tests", "fixtures", "standard_replies")
    cases = []
    for path in sorted(base.glob("*.eml")):
        expected = base / f"{path.stem}_reply_text"
        want = expected.read_text("utf-8") if expected.exists() else "Hello"
        cases.append(
            (path.stem, parse_message(path.read_bytes(), Settings()).new_text, want)
        )
    ratios = [
        difflib.SequenceMatcher(None, normalized(got), normalized(want)).ratio()
        for _, got, want in cases
    ]
    mean, exact = sum(ratios) / len(ratios), sum(r == 1.0 for r in ratios) / len(ratios)
    print(
        f"\nnew-text score talon standard replies (.eml): mean {mean:.3f}, exact {exact:.3f} over {len(cases)}"
    )
    assert mean >= 0.85
    assert exact >= 0.8
