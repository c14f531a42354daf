from openmmo.auth.names import (
    character_name_problem,
    device_id_problem,
    password_problem,
    username_problem,
)
from openmmo.auth.passwords import PasswordHashing

FAST = PasswordHashing(memory_kib=1024, time_cost=1)


def test_argon2id_with_owasp_parameters_by_default():
    encoded = PasswordHashing().hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_verify_accepts_only_the_right_password():
    encoded = FAST.hash("correct horse")
    assert FAST.verify(encoded, "correct horse")
    assert not FAST.verify(encoded, "wrong horse")
    assert not FAST.verify("not a hash", "correct horse")
    assert not FAST.verify(None, "not-a-real-password")  # the dummy never matches


def test_weaker_hashes_are_flagged_for_rehash():
    assert PasswordHashing().needs_rehash(FAST.hash("x"))
    assert not FAST.needs_rehash(FAST.hash("x"))


def test_name_rules():
    assert username_problem("player_1") is None
    assert username_problem("ab")
    assert username_problem("admin")
    assert username_problem("bad name")
    assert password_problem("short")
    assert password_problem("long enough") is None
    assert character_name_problem("Aria") is None
    assert character_name_problem("1Aria")
    assert character_name_problem("GM")
    assert character_name_problem("x" * 17)
    assert device_id_problem("bot-00000001") is None
    assert device_id_problem("short")
