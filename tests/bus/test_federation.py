import json
import re

import pytest
from typer.testing import CliRunner

from openmmo.bus.federation import FederationError, definitions
from openmmo.cli import app


def test_every_other_region_is_an_upstream_of_the_two_federated_exchanges():
    made = definitions(
        "openmmo", "a", {"c": "amqps://u:p@c.example:5671", "b": "amqp://u:p@b.example:5672/"}
    )
    upstreams = [p for p in made["parameters"] if p["component"] == "federation-upstream"]
    assert [u["name"] for u in upstreams] == ["openmmo-b", "openmmo-c"]
    # amqp://host/ is the default vhost to aio-pika but the empty one to federation
    assert upstreams[0]["value"]["uri"] == "amqp://u:p@b.example:5672"
    assert upstreams[1]["value"]["uri"] == "amqps://u:p@c.example:5671"
    assert all(u["value"]["max-hops"] == 1 for u in upstreams)  # a mesh: one hop
    (group,) = [p for p in made["parameters"] if p["component"] == "federation-upstream-set"]
    (policy,) = made["policies"]
    assert policy["definition"] == {"federation-upstream-set": group["name"]}
    pattern = re.compile(policy["pattern"])
    federated = ["openmmo.global", "openmmo.players"]
    regional = ["openmmo.broadcast", "openmmo.direct", "xopenmmo.global", "openmmo.globalx"]
    assert [n for n in federated + regional if pattern.search(n)] == federated


@pytest.mark.parametrize(
    ("upstreams", "message"),
    [
        ({}, "no upstreams"),
        ({"a": "amqp://x"}, "is this region"),
        ({"B": "amqp://x"}, "not a region name"),
        ({"b": "http://x"}, "not an amqp"),
        ({"b": "amqp://"}, "not an amqp"),
    ],
)
def test_upstreams_that_make_no_sense_are_refused(upstreams, message):
    with pytest.raises(FederationError, match=message):
        definitions("openmmo", "a", upstreams)


def test_the_command_wants_every_region_of_regions_and_no_other(tmp_path, monkeypatch):
    listed = [{"name": n, "gateway_url": f"http://{n}.example"} for n in ("a", "b", "c")]
    monkeypatch.setenv("REGION", "a")
    monkeypatch.setenv("REGIONS", json.dumps(listed))
    runner = CliRunner()
    missing = runner.invoke(app, ["federation-definitions", "--upstream", "b=amqp://b"])
    assert missing.exit_code == 2 and "missing: ['c']" in missing.output
    out = tmp_path / "federation.json"
    done = runner.invoke(
        app,
        [
            "federation-definitions",
            "--upstream",
            "b=amqp://b",
            "--upstream",
            "c=amqp://c",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    assert out.stat().st_mode & 0o077 == 0  # it holds credentials
    names = [p["name"] for p in json.loads(out.read_text())["parameters"]]
    assert names == ["openmmo-b", "openmmo-c", "openmmo-regions"]
    odd = runner.invoke(app, ["federation-definitions", "--upstream", "b"])
    assert odd.exit_code == 2 and "REGION=AMQP_URI" in odd.output
