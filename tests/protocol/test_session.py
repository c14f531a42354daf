import pytest

from openmmo.protocol.codes import ClientType, ErrorCode
from openmmo.protocol.messages import ProtocolError
from openmmo.protocol.session import ALLOWED, Phase, check_allowed


def refusal(phase, kind):
    with pytest.raises(ProtocolError) as raised:
        check_allowed(phase, kind, 1)
    return raised.value.code


def test_only_auth_and_ping_before_authentication():
    assert ALLOWED[Phase.AUTH] == {ClientType.AUTH, ClientType.PING}
    assert refusal(Phase.AUTH, ClientType.MOVE) is ErrorCode.NOT_AUTHENTICATED


def test_playing_refuses_a_second_join_and_auth():
    assert refusal(Phase.PLAYING, ClientType.JOIN_GAME) is ErrorCode.ALREADY_JOINED
    assert refusal(Phase.PLAYING, ClientType.AUTH) is ErrorCode.ALREADY_AUTHENTICATED


def test_game_actions_need_a_joined_character():
    for kind in (ClientType.MOVE, ClientType.ATTACK, ClientType.CHAT, ClientType.INSPECT):
        assert refusal(Phase.LOBBY, kind) is ErrorCode.NOT_JOINED
        check_allowed(Phase.PLAYING, kind, 1)


def test_closed_allows_nothing():
    for kind in ClientType:
        with pytest.raises(ProtocolError):
            check_allowed(Phase.CLOSED, kind, 1)


def test_phases_change_only_along_the_transition_table():
    from openmmo.protocol.session import Event, IllegalTransition, next_phase

    path = [Event.AUTHENTICATED, Event.JOIN, Event.ENTERED, Event.TRANSFER, Event.TRANSFER_FAILED]
    phase = Phase.AUTH
    for event in path:
        phase = next_phase(phase, event)
    assert phase is Phase.PLAYING
    assert next_phase(Phase.JOINING, Event.JOIN_FAILED) is Phase.LOBBY
    assert all(next_phase(p, Event.CLOSE) is Phase.CLOSED for p in Phase)
    with pytest.raises(IllegalTransition, match="entered is not possible while lobby"):
        next_phase(Phase.LOBBY, Event.ENTERED)
    with pytest.raises(IllegalTransition):
        next_phase(Phase.CLOSED, Event.AUTHENTICATED)


def test_the_games_messages_and_item_use_need_a_joined_character():
    for kind in (ClientType.CUSTOM, ClientType.USE_ITEM):
        assert refusal(Phase.LOBBY, kind) is ErrorCode.NOT_JOINED
        check_allowed(Phase.PLAYING, kind, 1)
