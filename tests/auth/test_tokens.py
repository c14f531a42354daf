import jwt
import pytest

from openmmo.auth.tokens import (
    AccessClaims,
    JoinTicket,
    KeyRing,
    TokenError,
    TokenService,
)
from openmmo.testing import ManualClock

SECRET = "s" * 40
OTHER = "o" * 40


def service(clock=None, keys=None):
    return TokenService(
        keys or KeyRing("k1", SECRET), clock or ManualClock(), access_ttl_s=60, ticket_ttl_s=30
    )


def test_access_token_round_trip():
    tokens = service()
    claims = tokens.verify_access(tokens.issue_access(42, "aria"))
    assert isinstance(claims, AccessClaims)
    assert (claims.account_id, claims.username) == (42, "aria")


def test_header_pins_algorithm_type_and_key_id():
    token = service().issue_access(1, "a")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "at+jwt", "kid": "k1"}


def test_expiry_follows_the_injected_clock():
    clock = ManualClock()
    tokens = service(clock)
    token = tokens.issue_access(1, "a")
    clock.advance(64)  # 60 s lifetime + 5 s leeway not yet used up
    tokens.verify_access(token)
    clock.advance(2)
    with pytest.raises(TokenError) as raised:
        tokens.verify_access(token)
    assert raised.value.expired


def test_a_join_ticket_is_not_an_access_token_and_vice_versa():
    tokens = service()
    ticket = tokens.issue_join_ticket(1, "a", zone_id=2, server_id="wilds-1", character_id=9)
    with pytest.raises(TokenError):
        tokens.verify_access(ticket)
    with pytest.raises(TokenError):
        tokens.verify_join_ticket(tokens.issue_access(1, "a"))
    parsed = tokens.verify_game_token(ticket)
    assert isinstance(parsed, JoinTicket)
    assert (parsed.zone_id, parsed.server_id, parsed.character_id) == (2, "wilds-1", 9)


def test_forged_and_foreign_tokens_are_refused():
    tokens = service()
    now = int(ManualClock().time())
    claims = {
        "sub": "1",
        "iss": "openmmo",
        "aud": "openmmo",
        "iat": now,
        "exp": now + 60,
        "jti": "x",
    }
    forged = jwt.encode(claims, OTHER, algorithm="HS256", headers={"kid": "k1", "typ": "at+jwt"})
    unknown_kid = jwt.encode(
        claims, SECRET, algorithm="HS256", headers={"kid": "zz", "typ": "at+jwt"}
    )
    none_alg = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1", "typ": "at+jwt"})
    other_audience = jwt.encode(
        {**claims, "aud": "elsewhere"},
        SECRET,
        algorithm="HS256",
        headers={"kid": "k1", "typ": "at+jwt"},
    )
    no_jti = jwt.encode(
        {k: v for k, v in claims.items() if k != "jti"},
        SECRET,
        algorithm="HS256",
        headers={"kid": "k1", "typ": "at+jwt"},
    )
    for token in (forged, unknown_kid, none_alg, other_audience, no_jti, "garbage", ""):
        with pytest.raises(TokenError):
            tokens.verify_access(token)


def test_rotation_keeps_retired_keys_verifying():
    clock = ManualClock()
    old = service(clock, KeyRing("k1", SECRET))
    token = old.issue_access(1, "a")
    rotated = service(clock, KeyRing("k2", OTHER, retired=(("k1", SECRET),)))
    assert rotated.verify_access(token).account_id == 1
    assert jwt.get_unverified_header(rotated.issue_access(1, "a"))["kid"] == "k2"
    dropped = service(clock, KeyRing("k2", OTHER))
    with pytest.raises(TokenError):
        dropped.verify_access(token)


def test_a_region_refuses_the_tokens_of_another_and_takes_those_without_one():
    keys = KeyRing("k1", SECRET)
    clock = ManualClock()
    a = TokenService(keys, clock, region="eu-west")
    b = TokenService(keys, clock, region="us-east")
    token = a.issue_access(5, "aria")
    assert a.verify_access(token).account_id == 5
    with pytest.raises(TokenError, match="issued in region 'eu-west'"):
        b.verify_access(token)
    ticket = a.issue_join_ticket(5, "aria", 1, "town-1", 9)
    with pytest.raises(TokenError, match="log in to this region"):
        b.verify_join_ticket(ticket)
    older = TokenService(keys, clock).issue_access(5, "aria")  # before regions: no claim
    assert b.verify_access(older).account_id == 5
