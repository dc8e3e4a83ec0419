"""RFC 4028 session timers, the pure core: negotiation as UAS and UAC, 422, and the refresh / expiry clock."""

from __future__ import annotations

import pytest

from emulator.protocols.sip import session_timer as st
from tests.helpers.sip_messages import invite, ok

POLICY = st.SessionTimerPolicy(enabled=True, min_se=1800, max_se=3600)


def test_header_parsing() -> None:
    assert st.parse_session_expires("1800;refresher=uac") == (1800, "uac")
    assert st.parse_session_expires(" 90 ; REFRESHER=UAS ; x=1") == (90, "uas")
    assert st.parse_session_expires("4000") == (4000, None)
    assert st.parse_session_expires("soon") is None
    assert st.parse_session_expires(None) is None
    assert st.parse_min_se("1800;x") == 1800
    assert st.parse_min_se("") is None


def test_our_request_asks_the_maximum_with_our_min_se() -> None:
    assert st.request_headers(POLICY) == [("Session-Expires", "3600"), ("Min-SE", "1800")]
    assert st.request_headers(POLICY, interval=1800, refresher="uac", min_se=2000) == [
        ("Session-Expires", "2000;refresher=uac"), ("Min-SE", "2000")]  # never below a Min-SE (a 422's)
    assert st.request_headers(st.SessionTimerPolicy(enabled=False)) == []


def test_uas_refuses_an_interval_below_its_min_se_with_422() -> None:
    with pytest.raises(st.TooSmall) as info:
        st.uas_negotiate(POLICY, invite("Supported: timer", "Session-Expires: 600"))
    assert info.value.min_se == 1800
    with pytest.raises(st.TooSmall) as info:  # below RFC 4028's floor of 90 s, even with the unit's timer off
        st.uas_negotiate(st.SessionTimerPolicy(enabled=False), invite("Session-Expires: 60"))
    assert info.value.min_se == 90


def test_uas_lowers_to_its_maximum_and_lets_a_timer_aware_caller_refresh() -> None:
    neg, headers = st.uas_negotiate(POLICY, invite("Supported: timer", "Session-Expires: 7200"))
    assert neg == st.Negotiated(3600, we_refresh=False)
    assert headers == [("Session-Expires", "3600;refresher=uac"), ("Require", "timer")]


def test_uas_refreshes_itself_for_a_caller_without_the_extension() -> None:
    neg, headers = st.uas_negotiate(POLICY, invite("Session-Expires: 2000"))
    assert neg == st.Negotiated(2000, we_refresh=True)
    assert headers == [("Session-Expires", "2000;refresher=uas")]
    neg, headers = st.uas_negotiate(POLICY, invite())  # no Session-Expires: the unit's timer, itself refreshing
    assert neg == st.Negotiated(3600, we_refresh=True)
    assert st.uas_negotiate(st.SessionTimerPolicy(enabled=False), invite()) == (None, [])


def test_uas_keeps_the_refresher_the_caller_names_and_respects_its_min_se() -> None:
    neg, _ = st.uas_negotiate(POLICY, invite("Supported: timer", "Session-Expires: 1900;refresher=uas", "Min-SE: 1900"))
    assert neg == st.Negotiated(1900, we_refresh=True)
    small = st.SessionTimerPolicy(min_se=180, max_se=200)
    neg, _ = st.uas_negotiate(small, invite("Session-Expires: 900", "Min-SE: 600"))
    assert neg is not None and neg.interval == 600  # never below the request's Min-SE


def test_uac_follows_the_refresher_of_the_2xx() -> None:
    assert st.uac_result(POLICY, ok("Session-Expires: 1800;refresher=uac", "Require: timer"), True) == \
        st.Negotiated(1800, True)
    assert st.uac_result(POLICY, ok("Session-Expires: 1800;refresher=uas"), True) == st.Negotiated(1800, False)
    assert st.uac_result(POLICY, ok(), True) == st.Negotiated(3600, True)  # the far end ignored it: we refresh
    assert st.uac_result(POLICY, ok(), False) is None


def test_the_refresher_refreshes_at_half_and_the_other_side_expires_before_the_end() -> None:
    clock = st.SessionClock(st.Negotiated(1800, True), 100.0)
    assert clock.deadline() == 1000.0
    assert clock.fire(999.0) is None
    assert clock.fire(1000.0) is st.TimerAction.REFRESH
    clock.start(st.Negotiated(90, False), 0.0)
    assert clock.deadline() == 60.0  # 90 - min(32, 90 / 3)
    assert clock.fire(60.0) is st.TimerAction.EXPIRE
    clock.start(st.Negotiated(1800, False), 0.0)
    assert clock.deadline() == 1768.0  # 1800 - 32
    assert st.Negotiated(1800, True).refresher(we_are_uac=False) == "uas"
