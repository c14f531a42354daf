import os
import threading

from openmmo.gateway.service import HASHING_NICE


async def test_register_then_login_return_a_token_pair(gw):
    response = await gw.http.post(
        "/auth/register", json={"username": "aria", "password": "correct horse"}
    )
    assert response.status_code == 201
    pair = response.json()
    assert set(pair) == {
        "token",
        "refresh_token",
        "expires_in",
        "token_type",
        "account_id",
        "username",
    }
    assert pair["expires_in"] == 600
    assert gw.tokens.verify_access(pair["token"]).username == "aria"
    login = await gw.http.post(
        "/auth/login", json={"username": "ARIA", "password": "correct horse"}
    )
    assert login.status_code == 200
    assert login.json()["account_id"] == pair["account_id"]


async def test_the_seeds_form_encoded_login_works(gw):
    await gw.user("player_1", "test123456")
    response = await gw.http.post(
        "/auth/login", data={"username": "player_1", "password": "test123456"}
    )
    assert response.status_code == 200


async def test_wrong_password_and_unknown_user_look_the_same(gw):
    await gw.user()
    wrong = await gw.http.post("/auth/login", json={"username": "aria", "password": "nope nope"})
    unknown = await gw.http.post("/auth/login", json={"username": "zed", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"code": "invalid_credentials", "message": "wrong username or password"}
    )
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_registration_errors(gw):
    await gw.user()
    taken = await gw.http.post(
        "/auth/register", json={"username": "Aria", "password": "another one"}
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "username_taken")
    short = await gw.http.post("/auth/register", json={"username": "bo", "password": "x"})
    assert (short.status_code, short.json()["code"]) == (422, "invalid_credentials_format")
    missing = await gw.http.post("/auth/register", json={"username": "bob"})
    assert (missing.status_code, missing.json()["code"]) == (422, "invalid_request")
    assert "password" in missing.json()["message"]
    garbage = await gw.http.post(
        "/auth/register", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422


async def _login_codes(client, n, password="wrong pass"):
    codes = []
    for _ in range(n):
        response = await client.post("/auth/login", json={"username": "aria", "password": password})
        codes.append(response.status_code)
    return codes, response


async def test_login_attempts_are_rate_limited_per_username_and_address(gw):
    await gw.user()
    codes, response = await _login_codes(gw.http, 11)
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    assert int(response.headers["retry-after"]) >= 1


async def test_a_guesser_at_another_address_does_not_lock_the_player_out(gw):
    """Regression (issue 11, bug 6): the per-username limit locked the real player out
    while an attacker guessed."""
    await gw.user()
    attacker = gw.client_from("203.0.113.66")
    codes, _ = await _login_codes(attacker, 12)
    assert codes[-1] == 429  # the attacker is stopped
    player = gw.client_from("198.51.100.7")
    codes, _ = await _login_codes(player, 1, password="correct horse")
    assert codes == [200]
    await attacker.aclose()
    await player.aclose()


async def test_many_addresses_together_are_bounded_per_username(gw):
    await gw.user()
    codes = []
    for n in range(12):  # 12 addresses x 10 guesses: the global budget is 100
        client = gw.client_from(f"203.0.113.{n}")
        codes += (await _login_codes(client, 10))[0]
        await client.aclose()
    assert codes.count(401) == 100
    assert codes.count(429) == 20


async def test_refresh_rotates_and_detects_reuse(gw):
    pair = (
        await gw.http.post("/auth/register", json={"username": "aria", "password": "correct horse"})
    ).json()
    first = await gw.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != pair["refresh_token"]
    replay = await gw.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert (replay.status_code, replay.json()["code"]) == (401, "refresh_token_reused")
    after = await gw.http.post("/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401  # the whole family was revoked


async def test_logout_revokes_the_refresh_token(gw):
    pair = (
        await gw.http.post("/auth/register", json={"username": "aria", "password": "correct horse"})
    ).json()
    assert (
        await gw.http.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 204
    response = await gw.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 401


async def test_device_login_creates_a_guest_with_a_character_once(gw):
    first = await gw.http.post("/auth/device", json={"device_id": "bot-00000001"})
    again = await gw.http.post("/auth/device", json={"device_id": "bot-00000001"})
    assert first.status_code == again.status_code == 200
    assert first.json()["account_id"] == again.json()["account_id"]
    headers = {"Authorization": f"Bearer {again.json()['token']}"}
    characters = (await gw.http.get("/api/characters", headers=headers)).json()["characters"]
    assert len(characters) == 1 and characters[0]["name"].startswith("Guest_")
    bad = await gw.http.post("/auth/device", json={"device_id": "x"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_device_id")


async def test_api_requires_a_valid_bearer_token(gw):
    assert (await gw.http.get("/api/zones")).status_code == 401
    bad = await gw.http.get("/api/zones", headers={"Authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["code"]) == (401, "unauthorized")
    headers = await gw.user()
    gw.clock.advance(3600)
    expired = await gw.http.get("/api/zones", headers=headers)
    assert (expired.status_code, expired.json()["code"]) == (401, "token_expired")


async def test_a_database_blip_during_refresh_burns_nothing(gw, monkeypatch):
    """Regression: the refresh token was used up before the database call failed with 503,
    so the client's retry got 401 refresh_token_reused and the whole login was revoked."""
    from openmmo.storage import StorageUnavailable

    pair = (
        await gw.http.post("/auth/register", json={"username": "blip", "password": "correct horse"})
    ).json()
    real = gw.storage.account_by_id

    async def down(account_id):
        raise StorageUnavailable("connection refused")

    monkeypatch.setattr(gw.storage, "account_by_id", down)
    failed = await gw.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert failed.status_code == 503
    monkeypatch.setattr(gw.storage, "account_by_id", real)
    retry = await gw.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert retry.status_code == 200, retry.text
    rotated = retry.json()["refresh_token"]
    again = await gw.http.post("/auth/refresh", json={"refresh_token": rotated})
    assert again.status_code == 200  # the login lives on


async def test_passwords_are_hashed_off_the_event_loop_at_a_lower_cpu_priority(gw, monkeypatch):
    """A burst of logins takes the CPU the requests leave (docs/benchmarks.md: reads during
    50 logins/s), so hashing runs on threads of its own at a higher nice value."""
    seen = []
    real = gw.service.passwords.verify

    def verify(password_hash, password):
        seen.append(
            (threading.get_ident(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        return real(password_hash, password)

    monkeypatch.setattr(gw.service.passwords, "verify", verify)
    await gw.user("nicely")
    response = await gw.http.post(
        "/auth/login", json={"username": "nicely", "password": "correct horse"}
    )
    assert response.status_code == 200
    [(thread, nice)] = seen
    assert thread != threading.get_ident()
    assert nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + HASHING_NICE)
