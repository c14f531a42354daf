"""Authentication, joining and the session state machine, without sockets."""

import asyncio
import dataclasses

from openmmo.protocol.codes import CloseCode, Encoding, Limits
from openmmo.protocol.session import Phase
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import RecordingTransport
from tests.zone.conftest import make_zone


async def test_a_token_at_upgrade_gets_a_welcome(zone):
    account, _ = await zone.account("aria")
    session, transport = zone.connect(zone.tokens.issue_access(account.account_id, "aria"))
    welcome = transport.last("welcome")
    assert welcome["protocol"] == 1
    assert welcome["zone"]["zone_id"] == 9
    assert welcome["limits"]["max_message_bytes"] == 4096
    assert session.phase is Phase.LOBBY


async def test_a_bad_token_gets_unauthorized_and_close_4001(zone):
    session, transport = zone.connect("not-a-token")
    assert transport.last("error")["code"] == "unauthorized"
    assert transport.closed[0] == CloseCode.UNAUTHORIZED
    assert session.phase is Phase.CLOSED


async def test_auth_by_message_and_auth_timeout(zone):
    account, _ = await zone.account("aria")
    session, transport = zone.connect()
    zone.send(session, {"type": "move", "seq": 1, "x": 1, "y": 1})
    assert transport.last("error")["code"] == "not_authenticated"
    zone.send(
        session,
        {"type": "auth", "seq": 2, "token": zone.tokens.issue_access(account.account_id, "aria")},
    )
    assert transport.last("welcome")["seq"] == 2
    _late, late_transport = zone.connect()
    await zone.tick(6.0)
    assert late_transport.closed[0] == CloseCode.AUTH_TIMEOUT
    assert transport.closed is None


async def test_join_places_the_character_and_answers_joined(zone):
    session, transport = await zone.player("aria", x=120, y=130)
    joined = transport.last("joined")
    assert joined["seq"] == 1
    assert joined["character"]["x"] == 120 and joined["character"]["hp"] == 100
    assert session.phase is Phase.PLAYING
    assert zone.runtime.play.world.player_count() == 1


async def test_join_refusals_keep_the_connection(zone):
    account, _ = await zone.account("aria")
    _other, foreign = await zone.account("bob")
    session, transport = zone.connect(zone.tokens.issue_access(account.account_id, "aria"))
    zone.send(session, {"type": "join_game", "seq": 1, "map_id": 1})
    assert transport.last("error")["code"] == "wrong_zone"
    zone.send(session, {"type": "join_game", "seq": 2, "character_id": foreign.character_id})
    await zone.settle()
    assert transport.last("error") == {
        "type": "error",
        "code": "character_not_found",
        "message": "no such character on your account",
        "seq": 2,
    }
    zone.send(session, {"type": "join_game", "seq": 3})
    await zone.settle()
    assert transport.last("joined")["seq"] == 3
    zone.send(session, {"type": "join_game", "seq": 4})
    assert transport.last("error")["code"] == "already_joined"
    assert transport.closed is None


async def test_join_tickets_are_bound_to_the_server_and_single_use(zone):
    account, character = await zone.account("aria")
    ticket = zone.tokens.issue_join_ticket(
        account.account_id, "aria", 9, "test-1", character.character_id
    )
    session, transport = zone.connect(ticket)
    assert transport.last("welcome")
    zone.send(session, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert transport.last("joined")["entity_id"] == character.character_id
    _, replay = zone.connect(ticket)
    assert replay.last("error")["message"] == "this ticket was already used"
    assert replay.closed[0] == CloseCode.UNAUTHORIZED
    elsewhere = zone.tokens.issue_join_ticket(account.account_id, "aria", 9, "other-2", None)
    _, wrong = zone.connect(elsewhere)
    assert wrong.closed[0] == CloseCode.FORBIDDEN


async def test_zone_tickets_let_any_channel_of_the_zone_honour_a_ticket(zone):
    """Channels behind one load balancer: the balancer, not the ticket, picks the channel."""
    zone.runtime.config = dataclasses.replace(zone.runtime.config, accept_zone_tickets=True)
    zone.runtime.sessions.accept_zone_tickets = True
    account, character = await zone.account("aria")
    sibling = zone.tokens.issue_join_ticket(
        account.account_id, "aria", 9, "other-2", character.character_id
    )
    session, transport = zone.connect(sibling)
    zone.send(session, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert transport.last("joined")["entity_id"] == character.character_id
    _, replay = zone.connect(sibling)
    assert replay.closed[0] == CloseCode.UNAUTHORIZED  # still single use
    other_zone = zone.tokens.issue_join_ticket(account.account_id, "aria", 8, "other-2", None)
    _, wrong = zone.connect(other_zone)
    assert wrong.closed[0] == CloseCode.FORBIDDEN  # never another zone's


async def test_the_same_character_joining_again_replaces_the_old_session(zone):
    old, old_transport = await zone.player("aria", x=100, y=100)
    zone.send(old, {"type": "move", "seq": 2, "x": 104, "y": 100})
    account = await zone.storage.account_by_username("aria")
    new, new_transport = zone.connect(zone.tokens.issue_access(account.account_id, "aria"))
    zone.send(new, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert old_transport.closed[0] == CloseCode.SESSION_REPLACED
    assert old_transport.last("notice")["code"] == "session_replaced"
    assert not old_transport.of_type("error")
    assert new_transport.last("joined")["character"]["x"] == 104  # carried over, not reloaded
    assert zone.runtime.play.world.player_count() == 1
    zone.runtime.sessions.disconnect(
        old
    )  # the old socket's late disconnect must not remove the new
    assert zone.runtime.play.world.player_count() == 1


async def test_a_full_channel_refuses_with_1013():
    zone = make_zone(max_players=1)
    await zone.player("aria")
    account, _ = await zone.account("bob")
    session, transport = zone.connect(zone.tokens.issue_access(account.account_id, "bob"))
    zone.send(session, {"type": "join_game", "seq": 1})
    assert transport.last("error")["code"] == "server_full"
    assert transport.closed[0] == CloseCode.TRY_AGAIN_LATER


async def test_leaving_saves_progress_then_closes(zone):
    """Regression (issue 11, bug 9): the close came before the save, so the HTTP API still
    showed the old row for ~200 ms after it. Now: taken out, saved, then closed."""
    saver = asyncio.ensure_future(zone.runtime.checkpointer.run(3600, list))
    try:
        session, transport = await zone.player("aria", x=100, y=100)
        zone.send(session, {"type": "move", "seq": 2, "x": 103, "y": 100})
        zone.send(session, {"type": "leave", "seq": 3})
        assert transport.closed is None  # not before the save
        zone.send(session, {"type": "chat", "seq": 4, "message": "hi"})
        assert transport.last("error")["code"] == "not_joined"  # phase LEAVING
        seen_before_close = []
        for _ in range(100):  # the server's ticks go on; the save lands, then the close
            await zone.tick(0.01)
            if transport.closed is not None:
                break
            seen_before_close.append(await zone.storage.load_character(session.character_id))
            await asyncio.sleep(0.01)
        assert transport.closed == (CloseCode.NORMAL, "bye")
        row = await zone.storage.load_character(session.character_id)
        assert (row.state.x, row.state.zone_id, row.owner_server) == (103, 9, None)
        assert zone.runtime.play.world.player_count() == 0
    finally:
        saver.cancel()


async def test_msgpack_sessions_get_binary_frames(zone):
    session, transport = await zone.player("aria", encoding=Encoding.MSGPACK)
    assert all(binary for _, binary in transport.frames)
    zone.send(session, {"type": "ping", "seq": 2, "client_time": 1.5}, binary=True)
    assert transport.last("pong")["client_time"] == 1.5


async def test_players_still_joining_count_toward_capacity():
    zone = make_zone(max_players=1)
    tokens = []
    for name in ("aria", "bob"):
        account, _ = await zone.account(name)
        tokens.append(zone.tokens.issue_access(account.account_id, name))
    first, first_t = zone.connect(tokens[0])
    second, second_t = zone.connect(tokens[1])
    zone.send(first, {"type": "join_game", "seq": 1})
    zone.send(second, {"type": "join_game", "seq": 1})  # before the first one has loaded
    await zone.settle()
    assert first_t.last("joined")
    assert second_t.last("error")["code"] == "server_full"


async def test_a_character_may_retake_its_seat_on_a_full_channel():
    zone = make_zone(max_players=1)
    account, character = await zone.account("aria")
    ticket = zone.tokens.issue_join_ticket(
        account.account_id, "aria", 9, "test-1", character.character_id
    )
    first, _ = zone.connect(ticket)
    zone.send(first, {"type": "join_game", "seq": 1})
    await zone.settle()
    again = zone.tokens.issue_join_ticket(
        account.account_id, "aria", 9, "test-1", character.character_id
    )
    second, second_t = zone.connect(again)
    zone.send(second, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert second_t.last("joined")["entity_id"] == character.character_id


class GatedStorage(MemoryStorage):
    """Account lookups wait for ``gate``; counts how many are in flight at once."""

    def __init__(self):
        super().__init__()
        self.gate = asyncio.Event()
        self.loading = 0
        self.most_at_once = 0

    async def account_by_id(self, account_id):
        self.loading += 1
        self.most_at_once = max(self.most_at_once, self.loading)
        try:
            await self.gate.wait()
            return await super().account_by_id(account_id)
        finally:
            self.loading -= 1


async def test_joins_load_from_storage_a_few_at_a_time():
    storage = GatedStorage()
    zone = make_zone(storage=storage)
    zone.runtime.join_slots = asyncio.Semaphore(2)
    connections = []
    for name in ("aria", "bob", "cyd", "dee", "eve"):
        account, _ = await zone.account(name)
        session, transport = zone.connect(zone.tokens.issue_access(account.account_id, name))
        zone.send(session, {"type": "join_game", "seq": 1})
        connections.append((session, transport))
    for _ in range(5):
        await asyncio.sleep(0)
    assert storage.loading == 2  # the other three wait for a slot, not in storage
    assert all(s.phase is Phase.JOINING for s, _ in connections)
    gone, _ = connections[4]
    zone.runtime.sessions.disconnect(gone)  # gave up while waiting: never loaded
    storage.gate.set()
    await zone.settle()
    assert storage.most_at_once == 2
    assert [t.last("joined")["seq"] for _, t in connections[:4]] == [1, 1, 1, 1]
    assert len(zone.runtime.sessions.players) == 4


async def test_an_authenticated_connection_that_never_joins_is_closed_4010(zone):
    """Regression (issue 11, bug 4): connections with a token that never joined were held
    forever (3,000 from one address: +93 MB)."""
    account, _ = await zone.account("aria")
    token = zone.tokens.issue_access(account.account_id, "aria")
    idle, idle_transport = zone.connect(token)
    await zone.tick(20.0)
    playing, playing_transport = await zone.player("bob")
    await zone.tick(11.0)  # 31 s after the first one's welcome
    assert idle_transport.closed[0] == CloseCode.JOIN_TIMEOUT
    assert idle_transport.last("error")["code"] == "not_joined"
    assert playing_transport.closed is None and playing.phase is Phase.PLAYING
    assert idle.phase is Phase.CLOSED


async def test_a_failed_join_gives_the_lobby_a_new_join_timeout(zone):
    account, _ = await zone.account("aria")
    session, transport = zone.connect(zone.tokens.issue_access(account.account_id, "aria"))
    _other, foreign = await zone.account("bob")
    await zone.tick(25.0)
    zone.send(session, {"type": "join_game", "seq": 1, "character_id": foreign.character_id})
    await zone.settle()  # loading it finds it is not aria's: back to the lobby
    assert transport.last("error")["code"] == "character_not_found"
    await zone.tick(10.0)
    assert transport.closed is None  # 35 s connected, but 10 s since it is back in the lobby


async def _connect_from(zone, address, token=None):
    transport = RecordingTransport(f"{address}:5000")
    session = zone.runtime.sessions.connect(transport, Encoding.JSON, token)
    return session, transport


async def test_connections_per_address_are_capped_and_freed_on_disconnect():
    zone = make_zone(limits=Limits(max_connections_per_address=3))
    held = [await _connect_from(zone, "203.0.113.5") for _ in range(3)]
    assert all(t.closed is None for _, t in held)
    refused_session, refused = await _connect_from(zone, "203.0.113.5")
    assert refused.closed[0] == CloseCode.TOO_MANY_CONNECTIONS
    assert refused.last("error")["code"] == "too_many_connections"
    zone.runtime.sessions.disconnect(refused_session)  # as the socket's close does
    _, elsewhere = await _connect_from(zone, "198.51.100.1")
    assert elsewhere.closed is None  # another address has its own budget
    zone.runtime.sessions.disconnect(held[0][0])
    _, again = await _connect_from(zone, "203.0.113.5")
    assert again.closed is None
    for _ in range(5):  # the host itself is exempt by default
        assert (await _connect_from(zone, "127.0.0.1"))[1].closed is None


async def test_connections_per_account_are_capped():
    zone = make_zone(limits=Limits(max_connections_per_account=2))
    account, _ = await zone.account("aria")
    token = zone.tokens.issue_access(account.account_id, "aria")
    first = [await _connect_from(zone, f"203.0.113.{n}", token) for n in range(2)]
    assert all(s.phase is Phase.LOBBY for s, _ in first)
    refused_session, refused = await _connect_from(zone, "203.0.113.9", token)
    assert refused.closed[0] == CloseCode.TOO_MANY_CONNECTIONS
    zone.runtime.sessions.disconnect(refused_session)
    other, _ = await zone.account("bob")
    bob, _ = await _connect_from(
        zone, "203.0.113.9", zone.tokens.issue_access(other.account_id, "bob")
    )
    assert bob.phase is Phase.LOBBY  # another account has its own budget
    zone.runtime.sessions.disconnect(first[0][0])
    fourth, _ = await _connect_from(zone, "203.0.113.9", token)
    assert fourth.phase is Phase.LOBBY
