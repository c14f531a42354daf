"""Matchmaking over HTTP: queue, poll, cancel; a matched ticket carries a join ticket."""

from openmmo.matchmaker import Matchmaker
from openmmo.matchmaking import DEFAULT_MODES


async def queued(gw, name):
    headers = await gw.user(name)
    created = await gw.http.post(
        "/api/characters", json={"name": name.capitalize()}, headers=headers
    )
    assert created.status_code == 201, created.text
    response = await gw.http.post(
        "/api/matchmaking/tickets", json={"mode": "dungeon"}, headers=headers
    )
    assert response.status_code == 202, response.text
    return headers, response.json()


async def test_queue_then_match_then_join_ticket(gw):
    await gw.channel("wilds-a", zone_id=2, players=5)
    players = [await queued(gw, name) for name in ("anna", "bert", "cleo")]
    headers, ticket = players[0]
    assert ticket["status"] == "queued" and ticket["grant"] is None
    gw.clock.advance(2)
    matchmaker = Matchmaker(gw.matchmaking, gw.directory, gw.clock, DEFAULT_MODES)
    assert await matchmaker.run_once() == 1
    grants = []
    for headers, ticket in players:
        response = await gw.http.get(
            f"/api/matchmaking/tickets/{ticket['ticket_id']}", headers=headers
        )
        body = response.json()
        assert body["status"] == "matched" and body["waited_s"] == 2.0
        grants.append(body["grant"])
    assert {g["channel_id"] for g in grants} == {"wilds-a"}
    assert len({g["character_id"] for g in grants}) == 3
    claims = gw.tokens.verify_join_ticket(grants[0]["ticket"])
    assert (claims.zone_id, claims.server_id) == (2, "wilds-a")
    assert claims.character_id == grants[0]["character_id"]


async def test_one_ticket_at_a_time_and_cancel(gw):
    headers, ticket = await queued(gw, "dora")
    again = await gw.http.post("/api/matchmaking/tickets", json={"mode": "duel"}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "already_queued"
    url = f"/api/matchmaking/tickets/{ticket['ticket_id']}"
    assert (await gw.http.delete(url, headers=headers)).status_code == 204
    assert (await gw.http.get(url, headers=headers)).json()["status"] == "cancelled"
    twice = await gw.http.delete(url, headers=headers)
    assert twice.status_code == 409 and twice.json()["code"] == "not_queued"


async def test_tickets_are_private_and_modes_known(gw):
    _, ticket = await queued(gw, "emil")
    stranger = await gw.user("finn")
    url = f"/api/matchmaking/tickets/{ticket['ticket_id']}"
    assert (await gw.http.get(url, headers=stranger)).status_code == 404
    assert (await gw.http.delete(url, headers=stranger)).status_code == 404
    unknown = await gw.http.post(
        "/api/matchmaking/tickets", json={"mode": "raid"}, headers=stranger
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_mode"
    assert "dungeon" in unknown.json()["message"]
    anonymous = await gw.http.post("/api/matchmaking/tickets", json={"mode": "dungeon"})
    assert anonymous.status_code == 401


async def test_a_player_without_a_character_cannot_queue(gw):
    headers = await gw.user("gwen")
    response = await gw.http.post(
        "/api/matchmaking/tickets", json={"mode": "dungeon"}, headers=headers
    )
    assert response.status_code == 409 and response.json()["code"] == "no_character"
