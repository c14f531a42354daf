import pytest

from openmmo.protocol.codes import ChatChannel, ErrorCode
from openmmo.protocol.messages import (
    Attack,
    Chat,
    Inspect,
    JoinGame,
    Move,
    Ping,
    ProtocolError,
    parse_client_message,
)


def test_move_is_parsed_with_float_coordinates():
    assert parse_client_message({"type": "move", "seq": 3, "x": 1, "y": 2.5}) == Move(3, 1.0, 2.5)


def test_the_seed_messages_parse():
    # The shapes of the seed's k6 script, plus the seq every input carries.
    assert parse_client_message(
        {"type": "join_game", "seq": 1, "map_id": 1, "character_id": 7}
    ) == JoinGame(1, 1, 7)
    assert parse_client_message(
        {"type": "attack", "seq": 2, "target_id": 10, "skill_id": 3}
    ) == Attack(2, 10, 3)
    assert parse_client_message(
        {"type": "chat", "seq": 3, "message": "hi", "channel": "global"}
    ) == Chat(3, ChatChannel.GLOBAL, "hi")


def test_unknown_fields_are_ignored_for_forward_compatibility():
    message = {"type": "move", "seq": 1, "x": 1, "y": 1, "timestamp": 123, "future": True}
    assert parse_client_message(message) == Move(1, 1.0, 1.0)


def test_chat_channel_defaults_to_say():
    assert (
        parse_client_message({"type": "chat", "seq": 1, "message": "x"}).channel is ChatChannel.SAY
    )


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ([1, 2], ErrorCode.BAD_MESSAGE),
        ({"type": "move", "x": 1, "y": 1}, ErrorCode.BAD_SEQ),
        ({"type": "move", "seq": 0, "x": 1, "y": 1}, ErrorCode.BAD_SEQ),
        ({"type": "move", "seq": True, "x": 1, "y": 1}, ErrorCode.BAD_SEQ),
        ({"type": "move", "seq": 2**32, "x": 1, "y": 1}, ErrorCode.BAD_SEQ),
        ({"type": "move", "seq": 1, "x": "1", "y": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "move", "seq": 1, "x": float("nan"), "y": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "move", "seq": 1, "x": float("inf"), "y": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "move", "seq": 1, "x": True, "y": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "attack", "seq": 1, "target_id": -1, "skill_id": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "attack", "seq": 1, "target_id": 1.5, "skill_id": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "chat", "seq": 1, "message": 5}, ErrorCode.BAD_MESSAGE),
        ({"type": "chat", "seq": 1, "message": "x", "channel": "shout"}, ErrorCode.BAD_MESSAGE),
        ({"type": "teleport", "seq": 1}, ErrorCode.UNKNOWN_TYPE),
        ({"type": 5, "seq": 1}, ErrorCode.BAD_MESSAGE),
        ({"type": "inspect", "seq": 1, "ids": list(range(65))}, ErrorCode.BAD_MESSAGE),
        ({"type": "inspect", "seq": 1, "ids": ["a"]}, ErrorCode.BAD_MESSAGE),
        ({"type": "auth", "seq": 1, "token": "x" * 5000}, ErrorCode.BAD_MESSAGE),
        ({"type": "ping", "seq": 1, "client_time": "now"}, ErrorCode.BAD_MESSAGE),
    ],
)
def test_invalid_messages_name_the_problem(message, code):
    with pytest.raises(ProtocolError) as raised:
        parse_client_message(message)
    assert raised.value.code is code
    assert raised.value.message


def test_error_carries_the_seq_when_it_was_valid():
    with pytest.raises(ProtocolError) as raised:
        parse_client_message({"type": "move", "seq": 9, "x": None, "y": 1})
    assert raised.value.seq == 9


def test_inspect_and_ping():
    assert parse_client_message({"type": "inspect", "seq": 1, "ids": [1, 2]}) == Inspect(1, (1, 2))
    assert parse_client_message({"type": "ping", "seq": 4}) == Ping(4, None)


def test_a_games_own_message_is_validated_against_its_declaration():
    from openmmo.protocol.messages import Custom, parse_client_message
    from openmmo.sim.declare import Message
    from openmmo.sim.schema import Field

    plant = Message(
        "plant", (Field("seed", str, "oak", max_chars=8), Field("n", int, 1, min=1, max=3))
    )
    extensions = {"plant": plant}
    parsed = parse_client_message({"type": "plant", "seq": 4, "n": 2}, extensions=extensions)
    assert parsed == Custom(4, "plant", {"seed": "oak", "n": 2})
    for bad in ({"n": 9}, {"n": "2"}, {"seed": "x" * 9}):
        with pytest.raises(ProtocolError) as raised:
            parse_client_message({"type": "plant", "seq": 5, **bad}, extensions=extensions)
        assert raised.value.code is ErrorCode.BAD_MESSAGE and raised.value.seq == 5
    with pytest.raises(ProtocolError) as raised:
        parse_client_message({"type": "plant", "seq": 6})  # a server without that game
    assert raised.value.code is ErrorCode.UNKNOWN_TYPE


def test_use_item_names_an_item():
    from openmmo.protocol.messages import UseItem, parse_client_message

    assert parse_client_message({"type": "use_item", "seq": 2, "item": "potion"}) == UseItem(
        2, "potion"
    )
    with pytest.raises(ProtocolError):
        parse_client_message({"type": "use_item", "seq": 3, "item": ""})
