"""RFC 3842 message-summary bodies, RFC 6665 Subscription-State, and the MwiStatus state a SUBSCRIBE's answer
leaves: the pure MWI core."""

from __future__ import annotations

from emulator.protocols.sip import mwi


def test_summary_with_counts_and_account() -> None:
    body = b"Messages-Waiting: yes\r\nMessage-Account: sip:bob@vm.example\r\nVoice-Message: 2/8 (0/2)\r\n"
    assert mwi.parse_summary(body) == mwi.MessageSummary(True, "sip:bob@vm.example", 2, 8, 0, 2)


def test_summary_without_urgent_counts_or_messages() -> None:
    assert mwi.parse_summary(b"messages-waiting: YES\nVoice-Message: 1/0\n") == mwi.MessageSummary(True, "", 1, 0)
    assert mwi.parse_summary(b"Messages-Waiting: no\r\n") == mwi.MessageSummary(False)
    assert mwi.parse_summary(b"Voice-Message: 1/0\r\n") is None  # Messages-Waiting is mandatory
    assert mwi.parse_summary(b"Messages-Waiting: yes\r\nVoice-Message: lots\r\n") == mwi.MessageSummary(True)


def test_subscription_state() -> None:
    assert mwi.parse_subscription_state("active;expires=3600") == ("active", 3600, None)
    assert mwi.parse_subscription_state("terminated; reason=timeout") == ("terminated", None, "timeout")
    assert mwi.parse_subscription_state(None) == ("active", None, None)


def test_state_after_the_subscribe_answer() -> None:
    assert mwi.state_after_response(200) == "Subscribed"
    assert mwi.state_after_response(202) == "Subscribed"
    assert mwi.state_after_response(None) == "Unreachable"
    assert mwi.state_after_response(407) == "AuthFailed"
    assert mwi.state_after_response(489) == "Rejected"
    assert mwi.state_after_response(302) == "InvalidResponse"
