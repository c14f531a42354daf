"""Pure grouping: who plays with whom, and how waiting widens the windows."""

from openmmo.matchmaking import MatchMode, QueueTicket, compatible, form_groups

NOW = 1_800_000_000.0
DUNGEON = MatchMode("dungeon", zone_id=2, group_size=3)


def ticket(n, rating=1000, level=10, waited=0.0, account=None):
    return QueueTicket(
        f"t{n}", "dungeon", account or n, f"p{n}", 100 + n, rating, level, NOW - waited
    )


def ids(groups):
    return [[t.ticket_id for t in g] for g in groups]


def test_close_players_form_a_full_group():
    assert ids(form_groups([ticket(1), ticket(2, 1050), ticket(3, 990)], DUNGEON, NOW)) == [
        ["t1", "t3", "t2"]
    ]


def test_an_incomplete_group_waits():
    assert form_groups([ticket(1), ticket(2)], DUNGEON, NOW) == []


def test_far_ratings_do_not_match_at_once_but_do_after_waiting():
    far = [ticket(1, 1000), ticket(2, 1400), ticket(3, 1200)]
    assert form_groups(far, DUNGEON, NOW) == []
    waited = [ticket(1, 1000, waited=20), ticket(2, 1400, waited=20), ticket(3, 1200, waited=20)]
    assert len(form_groups(waited, DUNGEON, NOW)) == 1


def test_both_players_must_accept_each_other():
    veteran = ticket(1, 1000, waited=60)  # accepts anyone by now
    newcomer = ticket(2, 1500)  # accepts only +-100
    assert not compatible(veteran, newcomer, DUNGEON, NOW)
    assert compatible(veteran, ticket(3, 1090), DUNGEON, NOW)


def test_levels_matter_too():
    assert form_groups([ticket(1, level=5), ticket(2, level=40), ticket(3)], DUNGEON, NOW) == []


def test_the_longest_waiting_are_served_first_and_nobody_twice():
    tickets = [ticket(n, 1000 + n, waited=10 - n) for n in range(1, 8)]
    groups = form_groups(tickets, DUNGEON, NOW)
    assert ids(groups) == [["t1", "t2", "t3"], ["t4", "t5", "t6"]]  # t7 waits for two more


def test_one_account_never_fills_two_seats():
    same = [ticket(1, account=9), ticket(2, account=9), ticket(3, account=9), ticket(4)]
    assert form_groups(same, DUNGEON, NOW) == []


def test_windows_are_capped():
    rating, level = DUNGEON.windows(10_000)
    assert rating == DUNGEON.rating_window_max and level == DUNGEON.level_window_max
