"""Tracing: login, allocation and join form one trace; a transfer is one trace across two
zone servers; with tracing off nothing is recorded and tickets carry no trace context; a
trace context that does not parse starts a trace instead of failing the request."""

import jwt
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from openmmo import tracing
from openmmo.auth.tokens import JOIN_AUDIENCE, JOIN_TYPE
from openmmo.config import ConfigError
from openmmo.games.default.world import TOWN, WILDS
from tests.gateway.conftest import Gateway
from tests.zone.conftest import make_zone
from tests.zone.test_servers import _world, join_with

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
CLIENT_TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"
DEVICE_ID = "device-0123456789abcdef"


@pytest.fixture
def spans():
    exporter = tracing.install_memory_exporter()
    yield exporter
    tracing.reset_tracing()


@pytest.fixture
async def world():
    """A gateway and one channel of the town (``town-1``) sharing storage, clock and keys."""
    gw = Gateway()
    zone = make_zone(server_id="town-1", clock=gw.clock, storage=gw.storage, spec=TOWN)
    gw.service.tokens = zone.tokens
    await gw.channel("town-1", zone_id=TOWN.zone_id)
    yield gw, zone
    await gw.http.aclose()


async def play(gw, zone, traceparent=None):
    """Device login, join grant, zone join; the headers carry ``traceparent`` if given."""
    headers = {"traceparent": traceparent} if traceparent else {}
    login = await gw.http.post("/auth/device", json={"device_id": DEVICE_ID}, headers=headers)
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    grant = await gw.http.post(
        f"/api/zones/{TOWN.zone_id}/join",
        json={},
        headers={**headers, "Authorization": f"Bearer {token}"},
    )
    assert grant.status_code == 200, grant.text
    ticket = grant.json()["ticket"]
    session, transport = zone.connect(ticket)
    zone.send(session, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert transport.last("joined")
    return token, ticket, grant.json()


def by_name(exporter):
    finished = exporter.get_finished_spans()
    named = {s.name: s for s in finished}
    assert len(named) == len(finished), [s.name for s in finished]
    return named


def hex_ids(span):
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def parent_id(span):
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def claims_of(ticket):
    return jwt.decode(ticket, options={"verify_signature": False})


async def test_login_allocation_and_join_are_one_trace_under_the_clients_traceparent(spans, world):
    gw, zone = world
    token, ticket, grant = await play(gw, zone, CLIENT_TRACEPARENT)
    named = by_name(spans)
    assert set(named) == {"auth.device", "zone.allocate", "zone.join"}
    login, allocate, join = named["auth.device"], named["zone.allocate"], named["zone.join"]
    assert {hex_ids(s)[0] for s in (login, allocate, join)} == {TRACE_ID}
    assert parent_id(login) == CLIENT_SPAN_ID and parent_id(allocate) == CLIENT_SPAN_ID
    assert parent_id(join) == hex_ids(allocate)[1]  # carried by the ticket
    assert claims_of(ticket)["tp"] == f"00-{TRACE_ID}-{hex_ids(allocate)[1]}-01"
    assert allocate.kind is SpanKind.SERVER and join.kind is SpanKind.SERVER
    character_id = grant["character_id"]
    assert login.attributes["openmmo.account_id"] == allocate.attributes["openmmo.account_id"]
    assert allocate.attributes["openmmo.zone_id"] == TOWN.zone_id
    assert allocate.attributes["openmmo.channel_id"] == "town-1"
    assert allocate.attributes["openmmo.character_id"] == character_id
    assert join.attributes["openmmo.channel_id"] == "town-1"
    assert join.attributes["openmmo.character_id"] == character_id
    assert all(s.status.status_code is StatusCode.UNSET for s in named.values())
    secrets = (token, ticket, DEVICE_ID)
    for span in named.values():
        values = [str(v) for v in span.attributes.values()]
        assert not any(secret in value for secret in secrets for value in values), span.name


async def test_without_a_traceparent_each_request_starts_a_trace_and_the_join_follows(spans, world):
    gw, zone = world
    await play(gw, zone)
    named = by_name(spans)
    login, allocate, join = named["auth.device"], named["zone.allocate"], named["zone.join"]
    assert login.parent is None and allocate.parent is None
    assert hex_ids(login)[0] != hex_ids(allocate)[0]
    assert hex_ids(join)[0] == hex_ids(allocate)[0]
    assert parent_id(join) == hex_ids(allocate)[1]


async def test_a_failed_allocation_is_an_error_on_its_span(spans, world):
    gw, _zone = world
    await gw.channel("town-1", zone_id=TOWN.zone_id, draining=True)  # the only channel
    login = await gw.http.post("/auth/device", json={"device_id": DEVICE_ID})
    grant = await gw.http.post(
        f"/api/zones/{TOWN.zone_id}/join",
        json={},
        headers={"Authorization": f"Bearer {login.json()['token']}"},
    )
    assert grant.status_code == 503
    allocate = by_name(spans)["zone.allocate"]
    assert allocate.status.status_code is StatusCode.ERROR
    assert allocate.attributes["error.type"] == "no_channel_available"
    assert allocate.attributes["openmmo.zone_id"] == TOWN.zone_id


async def test_a_failed_login_records_its_code_but_nothing_the_player_typed(spans, world):
    gw, _zone = world
    await gw.user("aria", "correct horse")
    again = await gw.http.post("/auth/register", json={"username": "aria", "password": "x" * 9})
    wrong = await gw.http.post("/auth/login", json={"username": "aria", "password": "wrong horse"})
    assert (again.status_code, wrong.status_code) == (409, 401)
    finished = spans.get_finished_spans()
    failed = {s.name: s for s in finished if s.status.status_code is StatusCode.ERROR}
    assert failed["auth.register"].attributes["error.type"] == "username_taken"
    assert failed["auth.login"].attributes["error.type"] == "invalid_credentials"
    for span in finished:
        events = [(event.name, dict(event.attributes)) for event in span.events]
        text = repr((span.status.description, dict(span.attributes), events))
        assert "aria" not in text and "horse" not in text, span.name


async def test_a_refused_join_is_an_error_on_its_span(spans, world):
    gw, zone = world
    account = await gw.storage.create_account("nobody", "h")
    ticket = zone.tokens.issue_join_ticket(
        account.account_id, "nobody", TOWN.zone_id, "town-1", 999, traceparent=CLIENT_TRACEPARENT
    )
    session, transport = zone.connect(ticket)
    zone.send(session, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert transport.last("error")["code"] == "character_not_found"
    join = by_name(spans)["zone.join"]
    assert join.status.status_code is StatusCode.ERROR
    assert join.attributes["error.type"] == "character_not_found"
    assert hex_ids(join)[0] == TRACE_ID and parent_id(join) == CLIENT_SPAN_ID


async def test_a_transfer_is_one_trace_across_the_source_and_the_target(spans):
    town, wilds = await _world(("town-a", TOWN), ("wilds-a", WILDS))
    account, character = await town.account("aria", x=995, y=512)
    came_with = town.tokens.issue_join_ticket(
        account.account_id,
        "aria",
        1,
        "town-a",
        character.character_id,
        traceparent=CLIENT_TRACEPARENT,
    )
    a, a_t = await join_with(town, "aria", ticket=came_with)
    assert a_t.last("joined")
    spans.clear()
    for seq, x in enumerate((1000.0, 1005.0), start=2):
        town.clock.advance(1.0)
        town.send(a, {"type": "move", "seq": seq, "x": x, "y": 512})
    await town.settle()
    ticket = a_t.last("transfer")["ticket"]
    _b, b_t = await join_with(wilds, "aria", ticket=ticket)
    assert b_t.last("joined")
    named = by_name(spans)
    transfer, join = named["zone.transfer"], named["zone.join"]
    assert transfer.attributes["openmmo.channel_id"] == "town-a"
    assert join.attributes["openmmo.channel_id"] == "wilds-a"
    assert hex_ids(join)[0] == hex_ids(transfer)[0]
    assert parent_id(join) == hex_ids(transfer)[1]
    assert transfer.parent is None  # a trace of its own, linked to the one the player came by
    assert [f"{link.context.span_id:016x}" for link in transfer.links] == [CLIENT_SPAN_ID]
    assert transfer.attributes["openmmo.transfer_reason"] == "portal"
    assert transfer.attributes["openmmo.to_zone_id"] == WILDS.zone_id
    assert transfer.attributes["openmmo.to_channel_id"] == "wilds-a"
    assert join.attributes["openmmo.transfer_id"] == transfer.attributes["openmmo.transfer_id"]
    trace_id, span_id = hex_ids(transfer)
    assert claims_of(ticket)["tp"].startswith(f"00-{trace_id}-{span_id}-")  # then the flags


async def test_with_tracing_off_nothing_is_recorded_and_tickets_carry_no_trace(world, monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    earlier = tracing.install_memory_exporter()
    assert tracing.configure_tracing("openmmo-gateway") is False
    assert not tracing.enabled()
    gw, zone = world
    _token, ticket, _grant = await play(gw, zone, CLIENT_TRACEPARENT)
    assert "tp" not in claims_of(ticket)
    assert zone.tokens.verify_join_ticket(ticket).traceparent is None
    assert earlier.get_finished_spans() == ()
    with tracing.span("anything") as span:
        assert not span.is_recording()
    assert tracing.current_traceparent() is None


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the invalid trace id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a forbidden version
    ],
)
async def test_a_malformed_traceparent_header_starts_a_fresh_trace(spans, world, header):
    gw, zone = world
    await play(gw, zone, header)
    named = by_name(spans)
    assert named["auth.device"].parent is None and named["zone.allocate"].parent is None
    assert hex_ids(named["auth.device"])[0] != TRACE_ID
    assert parent_id(named["zone.join"]) == hex_ids(named["zone.allocate"])[1]


@pytest.mark.parametrize("claim", ["not-a-traceparent", 12345, {"trace": 1}])
async def test_a_malformed_trace_claim_is_ignored_and_the_join_starts_a_trace(spans, world, claim):
    gw, zone = world
    account = await gw.storage.create_account("aria", "h")
    character = await gw.storage.create_character(account.account_id, "Aria", 1, 500.0, 500.0)
    payload = {
        "sub": str(account.account_id),
        "name": "aria",
        "zone": TOWN.zone_id,
        "srv": "town-1",
        "chr": character.character_id,
        "tp": claim,
    }
    ticket = zone.tokens._sign(payload, JOIN_TYPE, JOIN_AUDIENCE, 30)
    expected = claim if isinstance(claim, str) else None
    assert zone.tokens.verify_join_ticket(ticket).traceparent == expected
    session, transport = zone.connect(ticket)
    zone.send(session, {"type": "join_game", "seq": 1})
    await zone.settle()
    assert transport.last("joined")
    join = by_name(spans)["zone.join"]
    assert join.parent is None and join.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, ()),
        ({"OTEL_TRACES_EXPORTER": "none"}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_TRACES_EXPORTER": " Console , otlp"}, ("console", "otlp")),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "TRUE"}, ()),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "false"}, ("console",)),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ("otlp",),
        ),
    ],
)
def test_the_otel_variables_decide_whether_tracing_is_on(environ, exporters):
    assert tracing.exporters_wanted(environ) == exporters


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "PROTOCOL"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            },
            "PROTOCOL",
        ),
    ],
)
def test_an_exporter_this_build_cannot_serve_is_a_configuration_error(environ, named):
    with pytest.raises(ConfigError, match=named):
        tracing.exporters_wanted(environ)


def test_the_provider_is_named_by_otel_service_name_or_the_role(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.tracer_provider("openmmo-zone", {}) is None
    for environ, expected in [
        ({"OTEL_TRACES_EXPORTER": "console"}, "openmmo-zone"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SERVICE_NAME": "zone-eu"}, "zone-eu"),
    ]:
        provider = tracing.tracer_provider("openmmo-zone", environ)
        assert isinstance(provider, TracerProvider)
        try:
            assert provider.resource.attributes["service.name"] == expected
        finally:
            provider.shutdown()
