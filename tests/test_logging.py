from __future__ import annotations

import logging

import pytest

from ops.logging import RedactTokens, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/ws/v1/sync?profile_id=p&token=abc-DEF_1&since=5",
            "/ws/v1/sync?profile_id=p&token=[redacted]&since=5",
        ),
        (
            '"WebSocket /ws/v1/sync?token=abc" [accepted]',
            '"WebSocket /ws/v1/sync?token=[redacted]" [accepted]',
        ),
        ("/x?Token=abc", "/x?Token=[redacted]"),
        ("/x?mytoken=abc", "/x?mytoken=abc"),
        ("nothing here", "nothing here"),
    ],
)
def test_tokens_in_query_strings_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_record_with_the_path_as_an_argument_is_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        (("127.0.0.1", 5), "/ws/v1/sync?token=secret"), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "secret" not in record.getMessage()
