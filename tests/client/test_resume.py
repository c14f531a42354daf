"""The resume policy: which closes a client comes back after, and how long it waits."""

import asyncio
import random
import time

import pytest

from openmmo.client import ApiError, Backoff, GaveUp, ResumingClient, should_resume
from openmmo.client.game import GameError


@pytest.mark.parametrize(
    ("code", "resumes"),
    [
        (None, True),  # a crash: no close frame
        (1011, True),
        (1012, True),  # drain
        (1013, True),  # full
        (4007, True),  # transfer
        (4008, True),
        (4010, True),
        (4028, True),
        (4029, True),
        (4030, True),
        (1000, False),  # we left
        (4003, False),  # banned
        (4009, False),  # played elsewhere: coming back would steal it back
    ],
)
def test_which_closes_are_resumed(code, resumes):
    assert should_resume(code) is resumes


def test_the_default_backoff_is_the_one_the_docs_and_the_k6_script_describe():
    backoff = Backoff()
    assert (backoff.base_s, backoff.cap_s) == (0.25, 8.0)


def test_backoff_grows_with_full_jitter_up_to_its_cap():
    backoff = Backoff(base_s=0.25, cap_s=2.0, rng=random.Random(7))
    ceilings = [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    many = [Backoff(rng=random.Random(n)).next_delay() for n in range(200)]
    assert len(set(many)) > 150  # spread: clients do not come back in one instant


def test_backoff_waits_at_least_what_retry_after_asks():
    backoff = Backoff(base_s=0.25, cap_s=2.0, rng=random.Random(1))
    assert backoff.next_delay(retry_after_s=3.0) >= 3.0
    backoff.reset()
    assert backoff.attempt == 0


class _Gateway:
    def __init__(self):
        self.refreshed = 0

    async def refresh(self):
        self.refreshed += 1


async def test_rejoin_retries_through_unavailability_then_plays(monkeypatch):
    client = ResumingClient(_Gateway(), 7, backoff=Backoff(base_s=0.01, cap_s=0.02))
    answers = [
        ApiError(503, "no_channel_available", "", retry_after_s=0.05),
        ApiError(401, "unauthorized", ""),
        GameError({"code": "character_busy"}),
        OSError("refused"),
        "game",
    ]

    async def join_once():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(client, "_join_once", join_once)
    assert await client._rejoin(deadline=float("inf")) == "game"
    assert client.gateway.refreshed == 1  # a 401 refreshes the access token first


async def test_rejoin_gives_up_on_a_final_answer_and_at_the_deadline(monkeypatch):
    client = ResumingClient(_Gateway(), 7, backoff=Backoff(base_s=0.01, cap_s=0.02))

    async def banned():
        raise ApiError(403, "account_banned", "")

    monkeypatch.setattr(client, "_join_once", banned)
    with pytest.raises(GaveUp, match="account_banned"):
        await client._rejoin(deadline=float("inf"))

    async def busy():
        raise GameError({"code": "character_busy"})

    monkeypatch.setattr(client, "_join_once", busy)
    with pytest.raises(GaveUp, match="character_busy"):
        await client._rejoin(deadline=0.0)


class _SilentGame:
    """A connection whose server stopped sending (a partition: no FIN, no RST)."""

    def __init__(self, silent_for_s, closes_with=None):
        self.last_received_at = time.monotonic() - silent_for_s
        self.closes_with = closes_with
        self.dropped = False
        self._closed = asyncio.Event()

    async def wait_closed(self, timeout_s=10.0):
        if self.closes_with is not None:
            return self.closes_with, ""
        await asyncio.wait_for(self._closed.wait(), timeout_s)
        return None, ""

    def drop(self):
        self.dropped = True
        self._closed.set()


async def test_a_silent_server_is_taken_for_a_dead_link_and_the_time_counts_from_its_silence():
    client = ResumingClient(_Gateway(), 7, silence_s=0.2)
    silent = _SilentGame(silent_for_s=1.0)
    code, since = await client._until_closed_or_silent(silent)
    assert (code, silent.dropped, client.silences) == (None, True, 1)
    assert since == silent.last_received_at  # out of play since the last snapshot


async def test_a_connection_that_closes_is_not_a_silence():
    client = ResumingClient(_Gateway(), 7, silence_s=0.2)
    closing = _SilentGame(silent_for_s=0.0, closes_with=1012)
    code, _ = await client._until_closed_or_silent(closing)
    assert (code, closing.dropped, client.silences) == (1012, False, 0)
