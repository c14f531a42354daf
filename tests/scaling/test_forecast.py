import numpy as np
import pytest

from openmmo.scaling import forecast as fc
from openmmo.scaling.forecast import ForecastError, forecast, mape, regularize
from openmmo.scaling.prometheus import Series
from openmmo.testing.prometheus import players

STEP = 300.0
DAY = 288
START = 1_700_006_400.0  # a midnight UTC


def series(values, start=START, skip=()):
    times = start + np.arange(len(values)) * STEP
    keep = np.array([i not in skip for i in range(len(values))])
    return Series({"zone": "1"}, times[keep], np.asarray(values, dtype=float)[keep])


def grid_end(n):
    return START + n * STEP


def test_a_regular_history_comes_back_unchanged():
    values = np.arange(3 * DAY, dtype=float)
    out = regularize(series(values), START, grid_end(3 * DAY), STEP)
    assert np.array_equal(out, values)


def test_a_short_gap_is_interpolated():
    values = np.arange(3 * DAY, dtype=float)
    out = regularize(series(values, skip=range(100, 104)), START, grid_end(3 * DAY), STEP)
    assert np.allclose(out, values)


def test_a_long_gap_is_filled_from_the_day_before():
    values = np.tile(np.arange(DAY, dtype=float), 3)
    gap = range(DAY + 50, DAY + 90)  # 200 minutes on the second day
    out = regularize(series(values, skip=gap), START, grid_end(3 * DAY), STEP)
    assert np.array_equal(out, values)


def test_a_long_gap_with_nothing_a_day_before_is_refused():
    values = np.arange(3 * DAY, dtype=float)
    with pytest.raises(ForecastError, match="gap of 200 minutes"):
        regularize(series(values, skip=range(50, 90)), START, grid_end(3 * DAY), STEP)


def test_missing_recent_samples_are_refused():
    values = np.arange(3 * DAY, dtype=float)
    with pytest.raises(ForecastError, match="last 60 minutes"):
        regularize(series(values, skip=[3 * DAY - 5]), START, grid_end(3 * DAY), STEP)


def test_a_history_with_too_much_missing_is_refused():
    values = np.arange(3 * DAY, dtype=float)
    holes = [i for i in range(3 * DAY - 20) if i % 5 == 0]
    with pytest.raises(ForecastError, match="missing"):
        regularize(series(values, skip=holes), START, grid_end(3 * DAY), STEP)


def test_a_history_that_starts_late_is_too_short():
    values = np.arange(DAY, dtype=float)
    with pytest.raises(ForecastError, match="too little history"):
        regularize(series(values, start=START + 2 * DAY * STEP), START, grid_end(3 * DAY), STEP)


@pytest.mark.parametrize("model", fc.MODELS)
def test_too_little_history_for_a_model_is_refused(model):
    with pytest.raises(ForecastError, match=f"too little history for {model}"):
        forecast(np.ones(DAY), STEP, 6, model)


def test_holt_winters_follows_the_daily_shape():
    times = START + np.arange(5 * DAY) * STEP
    y = players(times, 3000, noise=0.02)
    result = forecast(y[: 4 * DAY], STEP, DAY, "holt_winters")
    assert result.model == "holt_winters"
    assert mape(y[4 * DAY :], result.values) < 8
    # the evening peak is forecast as the evening peak, not as a flat level
    assert abs(int(np.argmax(result.values)) - int(np.argmax(y[4 * DAY :]))) < 12


def test_seasonal_naive_is_last_week():
    y = np.arange(8 * DAY, dtype=float)
    result = forecast(y, STEP, 6, "seasonal_naive")
    assert np.array_equal(result.values, y[DAY : DAY + 6])


def test_a_forecast_that_is_not_a_number_is_refused(monkeypatch):
    monkeypatch.setattr(fc, "_holt_winters", lambda y, day, h: np.full(h, np.nan))
    with pytest.raises(ForecastError, match="not a number"):
        forecast(np.ones(3 * DAY), STEP, 6, "holt_winters")


def test_forecasts_are_never_negative(monkeypatch):
    monkeypatch.setattr(fc, "_holt_winters", lambda y, day, h: np.full(h, -5.0))
    assert (forecast(np.ones(3 * DAY), STEP, 6, "holt_winters").values == 0).all()


def test_mape_leaves_out_empty_steps():
    assert mape(np.array([0.0, 100.0]), np.array([5.0, 110.0])) == pytest.approx(10.0)
