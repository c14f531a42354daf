"""Containment of game code: exceptions, time budgets, disabling, reports."""

import pytest

from openmmo.sim.declare import Reject
from openmmo.sim.hooks import MAX_FAILURE_RECORDS_PER_TICK, HookRunner


class FakeTimer:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def runner(**kw):
    timer = FakeTimer()
    return HookRunner("testgame", timer=timer, **kw), timer


def test_an_exception_is_recorded_with_hook_entity_and_traceback():
    hooks, _ = runner()

    def broken(x):
        raise KeyError(x)

    assert hooks.call("on_join", broken, "mana", entity_id=7, on_error="fallback") == "fallback"
    hooks.end_tick(1)
    (report,) = hooks.drain()
    (failure,) = report.failures
    assert (failure.hook, failure.game, failure.entity_id) == ("on_join", "testgame", 7)
    assert failure.error == "KeyError: 'mana'"
    assert "in broken" in failure.traceback
    assert report.error_counts["on_join"] == 1


def test_a_reject_is_an_answer_not_a_failure():
    hooks, _ = runner()

    def refuse():
        raise Reject("not_yours")

    with pytest.raises(Reject):
        hooks.call("on_message:grab", refuse)
    hooks.end_tick(1)
    assert hooks.drain()[0].error_counts == {}


def test_failures_are_all_counted_but_only_some_described():
    hooks, _ = runner()
    for _ in range(MAX_FAILURE_RECORDS_PER_TICK + 30):
        hooks.call("brain:rat", lambda: 1 / 0)
    hooks.end_tick(1)
    (report,) = hooks.drain()
    assert report.error_counts["brain:rat"] == MAX_FAILURE_RECORDS_PER_TICK + 30
    assert len(report.failures) == MAX_FAILURE_RECORDS_PER_TICK


def slow(timer, seconds):
    def run():
        timer.now += seconds

    return run


def test_a_hook_over_budget_too_often_in_the_window_is_disabled():
    hooks, timer = runner(budget_s=0.010, max_overruns=3, window_ticks=10)
    for tick in range(1, 3):  # two overruns: still on
        hooks.call("on_tick", slow(timer, 0.02))
        assert hooks.end_tick(tick) == []
    hooks.call("on_tick", slow(timer, 0.005))  # within budget: not an overrun
    assert hooks.end_tick(3) == []
    hooks.call("on_tick", slow(timer, 0.02))
    (disabled,) = hooks.end_tick(4)
    assert disabled.hook == "on_tick" and "3 of the last 10 ticks" in disabled.reason
    calls = []
    assert hooks.call("on_tick", calls.append, 1, on_error="skipped") == "skipped"
    assert calls == [] and not hooks.enabled("on_tick")
    hooks.enable_all()
    hooks.call("on_tick", calls.append, 1)
    assert calls == [1]


def test_overruns_outside_the_window_are_forgotten():
    hooks, timer = runner(budget_s=0.010, max_overruns=3, window_ticks=10)
    for tick in (1, 20, 40, 60):
        hooks.call("on_tick", slow(timer, 0.02))
        assert hooks.end_tick(tick) == []
    assert hooks.enabled("on_tick")


def test_the_budget_is_per_hook_per_tick_summed_over_calls():
    hooks, timer = runner(budget_s=0.010, max_overruns=1)
    for _ in range(4):  # four cheap calls that add up to more than the budget
        hooks.call("brain:wolf", slow(timer, 0.003))
    hooks.call("on_tick", slow(timer, 0.001))
    disabled = hooks.end_tick(1)
    assert [d.hook for d in disabled] == ["brain:wolf"]
    report = hooks.drain()[0]
    assert report.seconds["brain:wolf"] == pytest.approx(0.012)
