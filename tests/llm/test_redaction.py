import copy
import json
import time
from typing import Any

import phonenumbers
import pytest

from agentic.llm.redaction import Finding, PiiKind, find_pii, placeholder, redact, redact_value

# Format-valid but fake credentials, built from parts so that no line reads as a real leaked key.
OPENAI_PROJECT_KEY = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_Q7r"
OPENAI_LEGACY_KEY = "sk-" + "A1b2C3d4E5f6G7h8I9j0" * 2 + "K1l2M3n4"
ANTHROPIC_KEY = "sk-ant-api03-" + "x7Yq2Lm9Pz4Rt8Vb1Nc6Kd3Hs5Jf0Gw" * 3 + "-AbCdEfAA"
GITHUB_TOKEN = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_OAUTH_TOKEN = "gho_" + "9aZ8yX7wV6uT5sR4qP3oN2mL1kJ0iH9gF8eD"
GITHUB_PAT = (
    "github_pat_" + "11ABCDEFG0123456789_" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
)
SLACK_TOKEN = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GOOGLE_KEY = "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
STRIPE_LIVE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_RESTRICTED_KEY = "rk_live_" + "51H8nVaKq0XyZ3bC7dE9fG2h"
STRIPE_TEST_KEY = "sk_test_" + "26PHem9AhJZvU623DfE1x4sd"
AGENTIC_API_KEY = "agk_1a2b3c4d_" + "Zk3mQ9vX2bN7cR5tW8yL1pH4jD6fG0sA_e-uIoKqTrE"
AGENTIC_ACCESS_TOKEN = "ags_" + "q8Wm3Zr5Tx1Vb7Nc9Lk2Jh4Gf6Ds0Ap-_YeUiOoPaSd"
AGENTIC_REFRESH_TOKEN = "agr_" + "Pz0Oy9Ix8Uw7Tv6Rs5Qr4Pq3On2Ml1Kk-_JjHhGgFfE"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\nZ1BzAbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/=="
PEM_BLOCK = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"

# (text, kind, the raw value that must disappear). The finding must cover exactly the raw value.
POSITIVES: list[tuple[str, PiiKind, str]] = [
    # e-mail addresses
    ("Contact jane.doe@example.com for details.", PiiKind.EMAIL, "jane.doe@example.com"),
    ("cc: ops+alerts@mail.eu.example.co.uk", PiiKind.EMAIL, "ops+alerts@mail.eu.example.co.uk"),
    ("john_smith@example.org wrote:", PiiKind.EMAIL, "john_smith@example.org"),
    ("Write to support@example.io.", PiiKind.EMAIL, "support@example.io"),
    ("FROM: JOHN.SMITH@EXAMPLE.COM", PiiKind.EMAIL, "JOHN.SMITH@EXAMPLE.COM"),
    ("Bob <bob-99@sub.example.net>", PiiKind.EMAIL, "bob-99@sub.example.net"),
    ("連絡先：taro.yamada@example.jp。よろしく", PiiKind.EMAIL, "taro.yamada@example.jp"),  # noqa: RUF001  # fullwidth colon on purpose
    ("Écrivez à josé.garcía@correo.es !", PiiKind.EMAIL, "josé.garcía@correo.es"),
    ("mailto:sales@example.com", PiiKind.EMAIL, "sales@example.com"),
    # phone numbers
    ("Call +44 20 7946 0958 today", PiiKind.PHONE, "+44 20 7946 0958"),
    ("Her cell is (415) 555-2671.", PiiKind.PHONE, "(415) 555-2671"),
    ("415-555-2671 is the number", PiiKind.PHONE, "415-555-2671"),
    ("Office: 020 7946 0958", PiiKind.PHONE, "020 7946 0958"),
    ("Mobile 07911 123456, evenings", PiiKind.PHONE, "07911 123456"),
    ("tel:+14155552671", PiiKind.PHONE, "+14155552671"),
    ("Berlin: +49 30 901820 (Zentrale)", PiiKind.PHONE, "+49 30 901820"),
    ("Paris +33 1 42 68 53 00.", PiiKind.PHONE, "+33 1 42 68 53 00"),
    ("電話：+81 3-1234-5678です", PiiKind.PHONE, "+81 3-1234-5678"),  # noqa: RUF001  # fullwidth colon on purpose
    ("US office +1 (212) 555-0123", PiiKind.PHONE, "+1 (212) 555-0123"),
    # payment cards (Luhn-valid test numbers)
    ("Visa 4111 1111 1111 1111 on file", PiiKind.CARD, "4111 1111 1111 1111"),
    ("MC: 5555-5555-5555-4444.", PiiKind.CARD, "5555-5555-5555-4444"),
    ("Amex 378282246310005", PiiKind.CARD, "378282246310005"),
    ("Amex grouped 3782 822463 10005, exp 01/27", PiiKind.CARD, "3782 822463 10005"),
    ("6011111111111117 is the Discover test card", PiiKind.CARD, "6011111111111117"),
    ("card 4242424242424242, exp 12/26", PiiKind.CARD, "4242424242424242"),
    ("Card: 4111 1111 1111 1111 12 26 cvv 123", PiiKind.CARD, "4111 1111 1111 1111"),
    ("カード番号：4111-1111-1111-1111です", PiiKind.CARD, "4111-1111-1111-1111"),  # noqa: RUF001  # fullwidth colon on purpose
    ("13 digits: 4222222222222", PiiKind.CARD, "4222222222222"),
    ("19 digits: 6011 0000 0000 0000 001", PiiKind.CARD, "6011 0000 0000 0000 001"),
    # IBANs
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", PiiKind.IBAN, "DE89 3704 0044 0532 0130 00"),
    ("GB82WEST12345698765432", PiiKind.IBAN, "GB82WEST12345698765432"),
    ("Virement: FR14 2004 1010 0505 0001 3M02 606.", PiiKind.IBAN, "FR14 2004 1010 0505 0001 3M02 606"),
    ("Pay to NL91ABNA0417164300.", PiiKind.IBAN, "NL91ABNA0417164300"),
    ("Konto (CH9300762011623852957)", PiiKind.IBAN, "CH9300762011623852957"),
    ("IBAN:ES9121000418450200051332;", PiiKind.IBAN, "ES9121000418450200051332"),
    # US social security numbers
    ("SSN 123-45-6789", PiiKind.SSN, "123-45-6789"),
    ("ssn:078-05-1120, on file", PiiKind.SSN, "078-05-1120"),
    ("社会保障番号 219-09-9999 です", PiiKind.SSN, "219-09-9999"),
    # IPv4 addresses
    ("request from 203.0.113.42 at noon", PiiKind.IP, "203.0.113.42"),
    ("client=198.51.100.7;", PiiKind.IP, "198.51.100.7"),
    ("db host 10.12.3.4", PiiKind.IP, "10.12.3.4"),
    # recognisable credentials
    (f"OPENAI_API_KEY is {OPENAI_PROJECT_KEY}", PiiKind.SECRET, OPENAI_PROJECT_KEY),
    (f"old key {OPENAI_LEGACY_KEY}.", PiiKind.SECRET, OPENAI_LEGACY_KEY),
    (f"x-api-key header was {ANTHROPIC_KEY}", PiiKind.SECRET, ANTHROPIC_KEY),
    ("AWS AKIAIOSFODNN7EXAMPLE in the config", PiiKind.SECRET, "AKIAIOSFODNN7EXAMPLE"),
    ("temporary ASIAY34FZKBOKMUTVV7A", PiiKind.SECRET, "ASIAY34FZKBOKMUTVV7A"),
    (f"git clone with {GITHUB_TOKEN}", PiiKind.SECRET, GITHUB_TOKEN),
    (f"({GITHUB_OAUTH_TOKEN})", PiiKind.SECRET, GITHUB_OAUTH_TOKEN),
    (f"pat {GITHUB_PAT}", PiiKind.SECRET, GITHUB_PAT),
    (f"SLACK_BOT={SLACK_TOKEN}", PiiKind.SECRET, SLACK_TOKEN),
    (f"maps key {GOOGLE_KEY} here", PiiKind.SECRET, GOOGLE_KEY),
    (f"stripe {STRIPE_LIVE_KEY}", PiiKind.SECRET, STRIPE_LIVE_KEY),
    (f"restricted {STRIPE_RESTRICTED_KEY}", PiiKind.SECRET, STRIPE_RESTRICTED_KEY),
    (f"test mode {STRIPE_TEST_KEY}", PiiKind.SECRET, STRIPE_TEST_KEY),
    (f"Authorization: Bearer {AGENTIC_API_KEY}", PiiKind.SECRET, AGENTIC_API_KEY),
    (f"session {AGENTIC_ACCESS_TOKEN}", PiiKind.SECRET, AGENTIC_ACCESS_TOKEN),
    (f"refresh={AGENTIC_REFRESH_TOKEN}", PiiKind.SECRET, AGENTIC_REFRESH_TOKEN),
    (f"id token: {JWT}", PiiKind.SECRET, JWT),
    (f"key:\n{PEM_BLOCK}\nend of key", PiiKind.SECRET, PEM_BLOCK),
    # credentials by assignment: the value goes, the name stays
    ("GET /login?user=bob&password=hunter2&next=/", PiiKind.SECRET, "hunter2"),
    ('{"username": "bob", "password": "correct horse battery"}', PiiKind.SECRET, "correct horse battery"),
    ("api_key: abc123def456", PiiKind.SECRET, "abc123def456"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", PiiKind.SECRET, "dXNlcjpwYXNzd29yZA=="),
    (
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        PiiKind.SECRET,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("clientSecret = 'Xy9-Qw8_Er7'", PiiKind.SECRET, "Xy9-Qw8_Er7"),
    ("mysql --password s3cr3t -u root", PiiKind.SECRET, "s3cr3t"),
    ("DATABASE_URL=postgres://app:s3cr3t-pw@localhost:5432/app", PiiKind.SECRET, "s3cr3t-pw"),
    ('{\\"token\\": \\"tok-998877\\"}', PiiKind.SECRET, "tok-998877"),
]

NEGATIVES: list[str] = [
    "Order #100234987 shipped on 2024-01-15",
    "Order ORD-2024-00012345 was placed",
    "invoice 2024-000123456 is due",
    "ts=2024-01-15T10:30:00.123Z level=info",
    "1718000000000 ms since the epoch",
    "epoch seconds 1718000000",
    "Meet at 10:30, room 4-12, floor 3. ZIP 94103-1234.",
    "upgrade to version 1.2.3 now",
    "Windows 10.0.19045.3803 and Python 3.11.4",
    "see section 4.5.3.1 and release v1.2.0.0",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "all digits 12345678-1234-5678-1234-567812345678",
    "not a card: 4111111111111112",
    "not a card either: 4111 1111 1111 1112",
    "bad check digits DE89370400440532013001",
    "wrong length DE8937040044053201300",
    "price $1,299.99 or €12,50 or 1.234.567,89 EUR",
    "ISO date 2024-01-15 and 15/01/2024",
    "short runs 12345, 555-0123 and 42",
    "skills: skill, skeptical, sk-learn, risk-adjusted-return-on-capital-model",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "short sha 3f78685 and tree e83c5163316f89bfbde7d9ab23ca2e25604af290",
    '{"model": "gpt-4o", "max_tokens": 4096, "prompt_tokens": 1234, "token_type": "bearer"}',
    "def login(password: str, token: str | None = None) -> bool:",
    "if password == confirmation:",
    "serve on 127.0.0.1:8000 or 0.0.0.0, netmask 255.255.255.0",
    "not SSNs: 000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
    "Use bearer token authentication for the API.",
    "publishable pk_live_51H8nVaKq0XyZ3bC7dE9fG2h is meant to be public",
    "AKIAEXAMPLE is too short, ghp_short too",
    "half a JWT: eyJhbGciOiJIUzI1NiJ9",
    "ISBN 978-3-16-148410-0 and MAC 00:1A:2B:3C:4D:5E",
    "Case No. 2:23-cv-01234, page 211-227 (2003)",
    "",
]


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_positive_samples_are_redacted(text: str, kind: PiiKind, raw: str) -> None:
    start = text.index(raw)
    assert Finding(kind, start, start + len(raw)) in find_pii(text)

    redacted = redact(text)
    assert placeholder(kind) in redacted
    assert raw not in redacted
    # Only the value is replaced: the text around it survives.
    assert redacted == text[:start] + placeholder(kind) + text[start + len(raw) :]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative_samples_are_untouched(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text) == text


@pytest.mark.parametrize("text", [text for text, _, _ in POSITIVES] + NEGATIVES)
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert find_pii(once) == []


def test_sample_table_covers_every_kind() -> None:
    assert {kind for _, kind, _ in POSITIVES} == set(PiiKind)
    assert len(POSITIVES) + len(NEGATIVES) >= 40


def test_several_findings_in_one_text() -> None:
    text = (
        "Hi, I'm Jane (jane@example.com, +44 20 7946 0958). Card 4111 1111 1111 1111, "
        f"IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, from 203.0.113.42, key {OPENAI_PROJECT_KEY}. "
        "Thanks — ジェーン"
    )

    findings = find_pii(text)

    assert [finding.kind for finding in findings] == [
        PiiKind.EMAIL,
        PiiKind.PHONE,
        PiiKind.CARD,
        PiiKind.IBAN,
        PiiKind.SSN,
        PiiKind.IP,
        PiiKind.SECRET,
    ]
    assert redact(text) == (
        "Hi, I'm Jane ([REDACTED:email], [REDACTED:phone]). Card [REDACTED:card], "
        "IBAN [REDACTED:iban], SSN [REDACTED:ssn], from [REDACTED:ip], key [REDACTED:secret]. "
        "Thanks — ジェーン"
    )


def test_repeated_values_are_each_redacted() -> None:
    text = "a@example.com,b@example.com;a@example.com"
    assert redact(text) == "[REDACTED:email],[REDACTED:email];[REDACTED:email]"


def test_overlapping_findings_merge_under_the_higher_priority_kind() -> None:
    # The digits are a valid card inside an e-mail address: neither part may survive.
    text = "write to 4111111111111111@example.com now"
    assert find_pii(text) == [Finding(PiiKind.CARD, 9, 37)]
    assert redact(text) == "write to [REDACTED:card] now"


def test_url_password_next_to_a_host_name_is_hidden_with_it() -> None:
    redacted = redact("postgres://app:s3cr3t@db.example.com:5432/app")
    assert "s3cr3t" not in redacted
    assert redacted.startswith("postgres://app:[REDACTED:secret]")


def test_truncated_private_key_is_redacted() -> None:
    text = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n\nThe rest was cut off."
    assert redact(text) == "[REDACTED:secret]\n\nThe rest was cut off."


def test_assignment_keeps_the_auth_scheme_and_the_quotes() -> None:
    assert redact('headers = {"Authorization": "Bearer abcdef0123456789xyz"}') == (
        'headers = {"Authorization": "Bearer [REDACTED:secret]"}'
    )
    assert redact("token='t0k3n-value'") == "token='[REDACTED:secret]'"


@pytest.mark.parametrize(
    "text",
    [
        "Room 12, floor 3, call ext 45 — mail jane@example.com",  # six digits in all
        "v1.2.3, room 12, 2024-01-15 at 10:30, 42 items, 7 days",  # no run of seven, dates aside
    ],
)
def test_phone_matching_is_skipped_when_no_number_can_be_long_enough(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("phonenumbers should not run")

    monkeypatch.setattr(phonenumbers, "PhoneNumberMatcher", fail)
    assert redact(text) == text.replace("jane@example.com", "[REDACTED:email]")


def test_redaction_repeats_when_a_placeholder_exposes_a_neighbour() -> None:
    # "…606.6011…" reads as a decimal number until the IBAN before the dot is replaced.
    text = "FR1420041010050500013M02606.6011111111111117"
    assert [finding.kind for finding in find_pii(text)] == [PiiKind.IBAN]
    assert redact(text) == "[REDACTED:iban].[REDACTED:card]"


def test_docstring_example() -> None:
    assert redact("Mail jane@example.com, key sk-proj-4fG7hK2mN9pQ1rS5tV8wX3yZ") == (
        "Mail [REDACTED:email], key [REDACTED:secret]"
    )


def test_redact_value_walks_an_openai_messages_list() -> None:
    arguments = {"to": "bob@example.org", "subject": "Invoice 2024-0042", "password": "hunter2", "retries": 3}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "I'm jane@example.com, card 4111 1111 1111 1111."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "send_email", "arguments": json.dumps(arguments)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": "sent to +1 (415) 555-2671"},
    ]
    original = copy.deepcopy(messages)

    redacted = redact_value(messages)

    assert messages == original  # the input is not modified
    assert redacted[0] == messages[0]
    assert redacted[1] == {"role": "user", "content": "I'm [REDACTED:email], card [REDACTED:card]."}
    call = redacted[2]["tool_calls"][0]
    assert call["id"] == "call_abc123"
    assert call["function"]["name"] == "send_email"
    assert json.loads(call["function"]["arguments"]) == {
        "to": "[REDACTED:email]",
        "subject": "Invoice 2024-0042",
        "password": "[REDACTED:secret]",
        "retries": 3,
    }
    assert redacted[2]["content"] is None
    assert redacted[3] == {
        "role": "tool",
        "tool_call_id": "call_abc123",
        "content": "sent to [REDACTED:phone]",
    }


def test_redact_value_keeps_keys_and_non_strings() -> None:
    value = {
        "jane@example.com": ("call 020 7946 0958", 42, 4111111111111111, 1.5, True, None),
        "nested": [{"ip": "203.0.113.42"}, []],
    }

    redacted = redact_value(value)

    assert redacted == {
        "jane@example.com": ("call [REDACTED:phone]", 42, 4111111111111111, 1.5, True, None),
        "nested": [{"ip": "[REDACTED:ip]"}, []],
    }
    assert isinstance(redacted["jane@example.com"], tuple)


def test_redact_value_hides_strings_stored_under_credential_keys() -> None:
    value = {
        "password": "hunter2",
        "clientSecret": "plain",
        "x-api-key": "k",
        "db": {"DB_PASSWORD": "letmein", "user": "app"},
        "max_tokens": 100,
        "token_type": "bearer",
        "author": "Jane",
        "secret_name": "prod-db",
        "empty_password": "",
    }

    assert redact_value(value) == {
        "password": "[REDACTED:secret]",
        "clientSecret": "[REDACTED:secret]",
        "x-api-key": "[REDACTED:secret]",
        "db": {"DB_PASSWORD": "[REDACTED:secret]", "user": "app"},
        "max_tokens": 100,
        "token_type": "bearer",
        "author": "Jane",
        "secret_name": "prod-db",
        "empty_password": "",
    }
    assert redact_value(redact_value(value)) == redact_value(value)


def test_redact_value_on_plain_values() -> None:
    assert redact_value("mail jane@example.com") == "mail [REDACTED:email]"
    assert redact_value(7) == 7
    assert redact_value(None) is None


def _transcript(size: int) -> tuple[str, int]:
    """A realistic prompt log of about `size` characters, and how many PII paragraphs it holds."""
    parts: list[str] = []
    pii_paragraphs = 0
    index = 0
    while sum(map(len, parts)) < size:
        index += 1
        if index % 10 == 0:
            pii_paragraphs += 1
            parts.append(
                f"Reach customer {index} at user{index}@example.com or +44 20 7946 0958; "
                f"card 4111 1111 1111 1111, key {OPENAI_PROJECT_KEY}.\n"
            )
        elif index % 3 == 0:
            parts.append(
                json.dumps(
                    {
                        "ts": f"2024-01-15T10:{index % 60:02d}:00Z",
                        "level": "info",
                        "prompt_tokens": index * 7,
                        "request_id": f"req_{index:08x}",
                    }
                )
                + "\n"
            )
        else:
            parts.append(
                f"Order ORD-2024-{index:08d} for ${index}.99 was updated at 10:{index % 60:02d} by the agent "
                f"running version 3.11.{index % 10}; the summary of step {index} follows below.\n"
            )
    return "".join(parts), pii_paragraphs


@pytest.mark.usefixtures("no_gc_pauses")
def test_redacting_100_kb_is_fast() -> None:
    text, pii_paragraphs = _transcript(100_000)
    assert len(text) >= 100_000

    started = time.perf_counter()
    redacted = redact(text)
    elapsed = time.perf_counter() - started

    # Measured at ~50 ms; the bound is loose so a slow CI machine does not flake.
    assert elapsed < 1.0
    for kind in (PiiKind.EMAIL, PiiKind.PHONE, PiiKind.CARD, PiiKind.SECRET):
        assert redacted.count(placeholder(kind)) == pii_paragraphs
    assert "4111 1111" not in redacted
