"""The admin API behind the web console: admins only, every action audited."""

from openmmo.bus import Kind


async def admin(gw, name="root"):
    headers = await gw.user(name, "correct horse battery")
    account = await gw.storage.account_by_username(name)
    await gw.storage.set_admin(account.account_id, True)
    return headers, account


class Heard:
    def __init__(self, gw, server_id="town-1"):
        self.envelopes = []
        self.server_id = server_id

    async def listen(self, gw):
        await gw.bus.subscribe(self.server_id, self.envelopes.append)
        return self


async def test_the_admin_api_needs_a_token_and_the_admin_role(gw):
    assert (await gw.http.get("/admin/cluster")).status_code == 401
    player = await gw.user("pleb", "correct horse battery")
    refused = await gw.http.get("/admin/cluster", headers=player)
    assert refused.status_code == 403 and refused.json()["code"] == "not_admin"
    headers, account = await admin(gw)
    assert (await gw.http.get("/admin/cluster", headers=headers)).status_code == 200
    await gw.storage.set_admin(account.account_id, False)  # taken away: at once
    assert (await gw.http.get("/admin/cluster", headers=headers)).status_code == 403


async def test_the_cluster_view_lists_servers_with_their_figures_and_history(gw):
    headers, _ = await admin(gw)
    await gw.channel("town-1", players=3)
    await gw.channel("wilds-1", zone_id=2)
    first = (await gw.http.get("/admin/cluster", headers=headers)).json()
    assert [s["channel_id"] for s in first["servers"]] == ["town-1", "wilds-1"]
    town = first["servers"][0]
    assert town["players"] == 3 and town["spectate_url"] == "ws://town-1/spectate"
    gw.console.sample(await gw.directory.channels())
    gw.console.sample(await gw.directory.channels())
    again = (await gw.http.get("/admin/cluster", headers=headers)).json()
    assert [h["players"] for h in again["servers"][0]["history"]][-2:] == [3, 3]
    await gw.console.close()


async def test_kick_reaches_every_server_and_is_audited(gw):
    headers, _ = await admin(gw)
    heard = await Heard(gw).listen(gw)
    player = await gw.user("victim", "correct horse battery")
    created = await gw.http.post("/api/characters", json={"name": "Victim"}, headers=player)
    response = await gw.http.post(
        "/admin/kick", json={"character": "victim", "reason": "spam"}, headers=headers
    )
    assert response.status_code == 200, response.text
    (envelope,) = heard.envelopes
    assert envelope.kind is Kind.KICK
    assert envelope.payload == {"character_id": created.json()["character_id"], "reason": "kicked"}
    audit = (await gw.http.get("/admin/audit", headers=headers)).json()["entries"]
    assert audit[0]["kind"] == "kick" and audit[0]["detail"] == "by root: Victim: spam"
    missing = await gw.http.post("/admin/kick", json={"character": "nobody"}, headers=headers)
    assert missing.status_code == 404


async def test_ban_revokes_and_kicks_and_an_admin_cannot_ban_themselves(gw):
    headers, _ = await admin(gw)
    heard = await Heard(gw).listen(gw)
    await gw.user("griefer", "correct horse battery")
    banned = await gw.http.post(
        "/admin/ban", json={"username": "griefer", "reason": "griefing"}, headers=headers
    )
    assert banned.status_code == 200
    assert (await gw.storage.account_by_username("griefer")).banned
    assert heard.envelopes[0].payload["reason"] == "banned"
    login = await gw.http.post(
        "/auth/login", json={"username": "griefer", "password": "correct horse battery"}
    )
    assert login.status_code == 403
    self_ban = await gw.http.post("/admin/ban", json={"username": "root"}, headers=headers)
    assert self_ban.status_code == 409
    await gw.http.post("/admin/ban", json={"username": "griefer", "unban": True}, headers=headers)
    assert not (await gw.storage.account_by_username("griefer")).banned


async def test_announce_and_drain(gw):
    headers, _ = await admin(gw)
    heard = await Heard(gw).listen(gw)
    await gw.channel("town-1")
    said = await gw.http.post("/admin/announce", json={"message": "restart"}, headers=headers)
    assert said.status_code == 200
    assert heard.envelopes[-1].kind is Kind.ANNOUNCE
    empty = await gw.http.post("/admin/announce", json={"message": ""}, headers=headers)
    assert empty.status_code == 422
    drained = await gw.http.post("/admin/channels/town-1/drain", json={}, headers=headers)
    assert drained.status_code == 200
    assert (heard.envelopes[-1].kind, heard.envelopes[-1].payload) == (Kind.DRAIN, {"drain": True})
    unknown = await gw.http.post("/admin/channels/nowhere/drain", json={}, headers=headers)
    assert unknown.status_code == 404
    audit = (await gw.http.get("/admin/audit", headers=headers)).json()["entries"]
    kinds = [e["kind"] for e in audit]
    assert kinds[:2] == ["drain", "announce"]
