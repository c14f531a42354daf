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
