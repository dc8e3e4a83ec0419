"""Two units of the lab call each other, with no SIP server: alice's proxy is bob himself, who answers calls
to his user name. Each side plays a tone; each measures the other's."""

from __future__ import annotations

from emulator.pytest_plugin import Unit


def connect(alice: Unit, bob: Unit) -> None:
    bob.script('SipEp.UserAgent[Phone-Fax1].Username = "bob"')
    alice.script(f'SipEp.DefaultStaticProxyHomeDomainHost = "{bob.sip}"')
    alice.dial("bob")
    bob.wait_call("ringing")
    bob.answer()
    alice.wait_call("connected")


def test_two_units_call_each_other_and_hear_each_others_tone(dgw_units: list[Unit]) -> None:
    alice, bob = dgw_units
    alice.play(1000)
    bob.play(440, level_dbm0=-20)
    connect(alice, bob)
    # the first measurements of a call may cover a little silence: wait until the level is there
    heard_by_bob = bob.wait_tone(1000, min_level_dbm0=-12)
    heard_by_alice = alice.wait_tone(440, min_level_dbm0=-22)
    assert heard_by_bob["level_dbm0"] < -8  # the phone's default level, -10 dBm0
    assert heard_by_alice["level_dbm0"] < -18
    call = alice.hangup()["call"]
    assert bob.wait_call("ended", call_id=call["call_id"])["end_reason"]


def test_a_call_nobody_answers_stays_ringing_until_hung_up(dgw_units: list[Unit]) -> None:
    alice, bob = dgw_units
    bob.script('SipEp.UserAgent[Phone-Fax1].Username = "bob"')
    alice.script(f'SipEp.DefaultStaticProxyHomeDomainHost = "{bob.sip}"')
    alice.dial("bob")
    assert bob.wait_call("ringing")["direction"] == "incoming"
    alice.hangup()
    bob.wait_call("ended")
    assert [c for c in bob.calls() if c["state"] == "connected"] == []
