"""Access tokens and join tickets as JWTs, following RFC 8725 (JWT best current practices).

* The algorithm is pinned (HS256); a token naming any other ``alg`` is refused before its
  signature is checked, so ``none`` and key-confusion attacks cannot apply.
* Every token carries ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` and ``jti``, and an explicit
  type in the header ``typ`` (``at+jwt`` for access tokens per RFC 9068, ``join+jwt`` for join
  tickets), so one kind can never be accepted as the other.
* The header ``kid`` selects the key, which allows rotation: new tokens are signed with the
  active key while retired keys still verify until their tokens expire.

In a world of several regions every token names the region that issued it (claim ``rgn``)
and a region refuses another's: each region has its own database, so account 5 of one region
is not account 5 of the next, whatever secret they share. A token without the claim (issued
before regions were set up) is taken.

A join ticket may carry the W3C ``traceparent`` of the span that issued it (claim ``tp``), so
the zone server's join continues the gateway's (or the source server's) trace. It is only a
hint: a claim that is not a string is dropped, not refused (:mod:`openmmo.tracing`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from openmmo.clock import Clock

ALGORITHM = "HS256"
ACCESS_TYPE = "at+jwt"
JOIN_TYPE = "join+jwt"
ACCESS_AUDIENCE = "openmmo"
JOIN_AUDIENCE = "openmmo-zone"
LEEWAY_S = 5.0


class TokenError(Exception):
    """A token is malformed, forged, of the wrong kind, or expired."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class KeyRing:
    active_kid: str
    active_secret: str
    retired: tuple[tuple[str, str], ...] = ()

    def key_for(self, kid: str) -> str | None:
        if kid == self.active_kid:
            return self.active_secret
        return dict(self.retired).get(kid)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    account_id: int
    username: str
    expires_at: float
    token_id: str


@dataclass(frozen=True, slots=True)
class JoinTicket:
    account_id: int
    username: str
    zone_id: int
    server_id: str
    character_id: int | None
    expires_at: float
    ticket_id: str
    transfer_id: str | None = None  # set when the ticket continues a transfer
    traceparent: str | None = None  # the W3C trace context of the span that issued it


class TokenService:
    def __init__(
        self,
        keys: KeyRing,
        clock: Clock,
        *,
        issuer: str = "openmmo",
        region: str | None = None,
        access_ttl_s: int = 900,
        ticket_ttl_s: int = 30,
    ):
        self._keys = keys
        self._clock = clock
        self.issuer = issuer
        self.region = region
        self.access_ttl_s = access_ttl_s
        self.ticket_ttl_s = ticket_ttl_s

    # --- issuing --------------------------------------------------------------------------
    def _sign(self, claims: dict[str, Any], typ: str, audience: str, ttl_s: int) -> str:
        now = int(self._clock.time())
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_s,
            "jti": secrets.token_urlsafe(12),
        }
        if self.region is not None:
            payload["rgn"] = self.region
        headers = {"kid": self._keys.active_kid, "typ": typ}
        return jwt.encode(payload, self._keys.active_secret, algorithm=ALGORITHM, headers=headers)

    def issue_access(self, account_id: int, username: str) -> str:
        return self._sign(
            {"sub": str(account_id), "name": username},
            ACCESS_TYPE,
            ACCESS_AUDIENCE,
            self.access_ttl_s,
        )

    def issue_join_ticket(
        self,
        account_id: int,
        username: str,
        zone_id: int,
        server_id: str,
        character_id: int | None,
        transfer_id: str | None = None,
        *,
        traceparent: str | None = None,
    ) -> str:
        """A ticket to one channel. With ``transfer_id`` it continues a transfer: the target
        server claims that transfer (once) instead of acquiring the character anew. With
        ``traceparent`` the join that uses it continues that trace."""
        claims: dict[str, Any] = {
            "sub": str(account_id),
            "name": username,
            "zone": zone_id,
            "srv": server_id,
        }
        if character_id is not None:
            claims["chr"] = character_id
        if transfer_id is not None:
            claims["tid"] = transfer_id
        if traceparent is not None:
            claims["tp"] = traceparent
        return self._sign(claims, JOIN_TYPE, JOIN_AUDIENCE, self.ticket_ttl_s)

    # --- verifying ------------------------------------------------------------------------
    def _verify(self, token: str, typ: str, audience: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError("token algorithm is not accepted")
        if header.get("typ") != typ:
            raise TokenError(f"token is not of type {typ}")
        key = self._keys.key_for(str(header.get("kid", "")))
        if key is None:
            raise TokenError("token signed with an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "iat", "sub", "jti", "iss", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        issued_in = claims.get("rgn", self.region)
        if self.region is not None and issued_in != self.region:
            raise TokenError(f"token was issued in region {issued_in!r}: log in to this region")
        # Expiry is checked here, against the injected clock, rather than by PyJWT.
        expires_at = claims["exp"]
        if not isinstance(expires_at, int | float) or expires_at + LEEWAY_S < self._clock.time():
            raise TokenError("token has expired", expired=True)
        return claims

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._verify(token, ACCESS_TYPE, ACCESS_AUDIENCE)
        return AccessClaims(
            _account_id(claims),
            str(claims.get("name", "")),
            float(claims["exp"]),
            str(claims["jti"]),
        )

    def verify_join_ticket(self, token: str) -> JoinTicket:
        claims = self._verify(token, JOIN_TYPE, JOIN_AUDIENCE)
        zone_id, server_id, character_id = claims.get("zone"), claims.get("srv"), claims.get("chr")
        if type(zone_id) is not int or not isinstance(server_id, str):
            raise TokenError("join ticket lacks its zone or server")
        if character_id is not None and type(character_id) is not int:
            raise TokenError("join ticket has an invalid character")
        transfer_id = claims.get("tid")
        if transfer_id is not None and (not isinstance(transfer_id, str) or character_id is None):
            raise TokenError("join ticket has an invalid transfer")
        traceparent = claims.get("tp")
        return JoinTicket(
            _account_id(claims),
            str(claims.get("name", "")),
            zone_id,
            server_id,
            character_id,
            float(claims["exp"]),
            str(claims["jti"]),
            transfer_id,
            traceparent if isinstance(traceparent, str) else None,
        )

    def verify_game_token(self, token: str) -> AccessClaims | JoinTicket:
        """What a zone server accepts: an access token or a join ticket."""
        try:
            typ = jwt.get_unverified_header(token).get("typ")
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"malformed token: {exc}") from None
        if typ == JOIN_TYPE:
            return self.verify_join_ticket(token)
        return self.verify_access(token)


def _account_id(claims: dict[str, Any]) -> int:
    try:
        return int(claims["sub"])
    except (TypeError, ValueError):
        raise TokenError("token subject is not an account id") from None
