import math


async def test_characters_can_be_created_listed_and_fetched(gw):
    headers = await gw.user()
    created = await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    assert created.status_code == 201
    hero = created.json()
    assert (hero["zone_id"], hero["level"]) == (1, 1)
    assert math.hypot(hero["x"] - 512.0, hero["y"] - 512.0) <= 300.0  # the town's spawn area
    listed = (await gw.http.get("/api/characters", headers=headers)).json()
    assert listed == {"characters": [hero]}
    fetched = await gw.http.get(f"/api/characters/{hero['character_id']}", headers=headers)
    assert fetched.json() == hero


async def test_a_character_has_a_class_and_the_games_fields_its_owner_sees(gw):
    headers = await gw.user()
    hero = (await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)).json()
    assert hero["class"] == "adventurer"  # the game's first class
    assert hero["stats"] == {"mana": 100, "quest": "rat_problem", "rats_slain": 0, "title": ""}
    mage = await gw.http.post(
        "/api/characters", json={"name": "Merlin", "class": "mage"}, headers=headers
    )
    assert (mage.status_code, mage.json()["class"]) == (201, "mage")
    stored = await gw.storage.load_character(mage.json()["character_id"])
    assert stored.state.stats["class"] == "mage"
    bad = await gw.http.post(
        "/api/characters", json={"name": "Rogue", "class": "rogue"}, headers=headers
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_class")
    assert "adventurer, mage" in bad.json()["message"]


async def test_character_rules(gw):
    headers = await gw.user()
    other = await gw.user("bob")
    await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    taken = await gw.http.post("/api/characters", json={"name": "aria"}, headers=other)
    assert (taken.status_code, taken.json()["code"]) == (409, "name_taken")
    bad = await gw.http.post("/api/characters", json={"name": "1x"}, headers=headers)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_name")
    for name in ("Bea", "Cal", "Dee", "Eve"):
        assert (
            await gw.http.post("/api/characters", json={"name": name}, headers=headers)
        ).status_code == 201
    full = await gw.http.post("/api/characters", json={"name": "Fay"}, headers=headers)
    assert (full.status_code, full.json()["code"]) == (409, "character_limit")
    mine = (await gw.http.get("/api/characters", headers=headers)).json()["characters"][0]
    foreign = await gw.http.get(f"/api/characters/{mine['character_id']}", headers=other)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "character_not_found")


async def test_zone_directory_lists_every_zone_and_live_channel(gw):
    headers = await gw.user()
    await gw.channel("town-a", 1, players=3)
    await gw.channel("wilds-a", 2, draining=True)
    zones = (await gw.http.get("/api/zones", headers=headers)).json()["zones"]
    assert [(z["zone_id"], z["name"], z["pvp"]) for z in zones] == [
        (1, "town", False),
        (2, "wilds", True),
    ]
    assert zones[0]["channels"] == [
        {
            "channel_id": "town-a",
            "ws_url": "ws://town-a/ws",
            "players": 3,
            "max_players": 100,
            "ready": True,
            "draining": False,
        }
    ]
    assert zones[1]["channels"][0]["draining"] is True
    gw.clock.advance(10)  # heartbeats stop: the channels disappear
    zones = (await gw.http.get("/api/zones", headers=headers)).json()["zones"]
    assert all(z["channels"] == [] for z in zones)


async def test_join_allocates_the_least_loaded_channel_with_a_ticket(gw):
    headers = await gw.user()
    hero = (await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)).json()
    await gw.channel("town-a", 1, players=10)
    await gw.channel("town-b", 1, players=2)
    response = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert response.status_code == 200
    grant = response.json()
    assert (grant["channel_id"], grant["ws_url"], grant["character_id"]) == (
        "town-b",
        "ws://town-b/ws",
        hero["character_id"],
    )
    ticket = gw.tokens.verify_join_ticket(grant["ticket"])
    assert (ticket.server_id, ticket.zone_id, ticket.character_id) == (
        "town-b",
        1,
        hero["character_id"],
    )


async def test_a_burst_of_joins_spreads_over_channels(gw):
    headers = await gw.user()
    await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    await gw.channel("town-a", 1)
    await gw.channel("town-b", 1)
    picks = [
        (await gw.http.post("/api/zones/1/join", json={}, headers=headers)).json()["channel_id"]
        for _ in range(10)
    ]
    assert picks.count("town-a") == picks.count("town-b") == 5


async def test_no_grant_to_a_channel_once_the_directory_says_it_drains_or_died(gw):
    """Regression (issue 11): the gateway cached the directory for 0.5 s and placed 3-7
    players on a channel that had just started draining."""
    headers = await gw.user()
    await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    await gw.channel("town-a", 1)
    await gw.channel("town-b", 1, players=50)
    first = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert first.json()["channel_id"] == "town-a"
    await gw.channel("town-a", 1, draining=True)  # the same instant: no time passes
    picks = {
        (await gw.http.post("/api/zones/1/join", json={}, headers=headers)).json()["channel_id"]
        for _ in range(5)
    }
    assert picks == {"town-b"}
    await gw.directory.remove("town-b")  # died: its entry expired
    gone = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (503, "no_channel_available")


async def test_a_resuming_client_can_pass_over_the_channel_it_just_lost(gw):
    headers = await gw.user()
    hero = (await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)).json()
    await gw.channel("town-a", 1)
    await gw.channel("town-b", 1, players=90)
    path = f"/api/characters/{hero['character_id']}/join"
    plain = await gw.http.post(path, headers=headers)  # no body at all
    assert plain.json()["channel_id"] == "town-a"
    avoided = await gw.http.post(path, json={"avoid_channel": "town-a"}, headers=headers)
    assert avoided.json()["channel_id"] == "town-b"
    await gw.channel("town-b", 1, draining=True)  # no other channel: the lost one it is
    only = await gw.http.post(path, json={"avoid_channel": "town-a"}, headers=headers)
    assert only.json()["channel_id"] == "town-a"


async def test_join_errors(gw):
    headers = await gw.user()
    none = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert (none.status_code, none.json()["code"]) == (409, "no_character")
    await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    nowhere = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert (nowhere.status_code, nowhere.json()["code"]) == (503, "no_channel_available")
    assert nowhere.headers["retry-after"] == "2"
    unknown = await gw.http.post("/api/zones/77/join", json={}, headers=headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "zone_not_found")
    await gw.channel("town-a", 1, ready=False)
    assert (await gw.http.post("/api/zones/1/join", json={}, headers=headers)).status_code == 503


async def test_join_by_character_uses_its_zone(gw):
    headers = await gw.user()
    hero = (await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)).json()
    await gw.channel("town-a", 1)
    grant = (
        await gw.http.post(f"/api/characters/{hero['character_id']}/join", headers=headers)
    ).json()
    assert grant["zone_id"] == 1 and grant["channel_id"] == "town-a"


async def test_a_banned_account_gets_no_join_ticket(gw):
    headers = await gw.user()
    await gw.http.post("/api/characters", json={"name": "Aria"}, headers=headers)
    await gw.channel("town-a", 1)
    account = await gw.storage.account_by_username("aria")
    await gw.storage.set_banned(account.account_id, True)
    refused = await gw.http.post("/api/zones/1/join", json={}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "account_banned")


async def test_a_deleted_account_cannot_create_characters_and_is_told_so(gw):
    ghost = gw.tokens.issue_access(424242, "ghost")  # a valid token, an account gone
    created = await gw.http.post(
        "/api/characters", json={"name": "Casper"}, headers={"Authorization": f"Bearer {ghost}"}
    )
    assert (created.status_code, created.json()["code"]) == (404, "account_not_found")
