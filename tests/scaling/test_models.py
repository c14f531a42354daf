import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from openmmo.scaling.models import CURRENCIES, PriceSheet

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {"on_demand_node_hour": 0.17, "spot_node_hour": 0.06, "egress_gb": 0.09}


def test_a_spot_node_costs_the_spot_price_and_on_demand_without_one():
    sheet = PriceSheet(currency="USD", regions={"a": LOCAL, "b": {**LOCAL, "spot_node_hour": None}})
    assert sheet.node_hour("a", "spot") == 0.06
    assert sheet.node_hour("a", "on-demand") == 0.17
    assert sheet.node_hour("b", "spot") == 0.17
    with pytest.raises(KeyError):
        sheet.node_hour("elsewhere", "spot")


@pytest.mark.parametrize(
    "change",
    [
        {"currency": "usd"},
        {"currency": "XXX"},
        {"regions": {}},
        {"regions": {"a": {**LOCAL, "egress_gb": -0.01}}},
        {"regions": {"a": {**LOCAL, "egress_gb": float("nan")}}},
        {"regions": {"a": {"spot_node_hour": 1, "egress_gb": 1}}},
        {"target_per_player_hour": 0},
        {"regions": {"a": {**LOCAL, "gpu_hour": 1}}},
    ],
)
def test_a_price_sheet_that_cannot_be_right_is_refused(change):
    with pytest.raises(ValidationError):
        PriceSheet(**{"currency": "USD", "regions": {"a": LOCAL}, **change})


def test_the_chart_knows_the_same_currencies():
    schema = json.loads((ROOT / "deploy/helm/openmmo/values.schema.json").read_text())
    assert set(schema["properties"]["cost"]["properties"]["currency"]["enum"]) == CURRENCIES
