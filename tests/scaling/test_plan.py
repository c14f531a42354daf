import pytest
from pydantic import ValidationError

from openmmo.scaling.models import ZoneTarget
from openmmo.scaling.plan import channels_for

TOWN = ZoneTarget(zone="town", min_replicas=2, max_replicas=6, players_per_channel=700)


def test_channels_cover_the_peak_with_the_headroom():
    assert channels_for(2000, TOWN, 0.2) == (4, 4, None)  # 2400 / 700 -> 4
    assert channels_for(2100, TOWN, 0.0) == (3, 3, None)  # exactly three full channels


@pytest.mark.parametrize(
    ("peak", "expected"), [(10, (1, 2, "min_replicas")), (9000, (16, 6, "max_replicas"))]
)
def test_a_recommendation_is_clamped_to_the_autoscalers_bounds(peak, expected):
    assert channels_for(peak, TOWN, 0.2) == expected


def test_an_empty_zone_still_needs_one_channel():
    assert channels_for(0, ZoneTarget(zone="z"), 0.2)[0] == 1


def test_bounds_the_wrong_way_round_are_refused():
    with pytest.raises(ValidationError, match="above max_replicas"):
        ZoneTarget(zone="z", min_replicas=5, max_replicas=2)
