"""Windows of a recording (emoclassic._windows): bounds with and without a hop, the rule for
the rest after the last complete window, cutting arrays and streams the same way, smoothing,
and the one-line errors for bad options. No model needed; see test_recognizer.py for windows
in predictions and on the command line."""

from __future__ import annotations

import numpy as np
import pytest

from emoclassic._windows import (
    StreamWindows,
    check_windows,
    iter_array_windows,
    smooth_probabilities,
    window_bounds,
)
from emoclassic.exceptions import DataError
from emoclassic.prediction import _window_bounds


def test_windows_that_touch_keep_the_earlier_rule():
    assert window_bounds(2.0, 5.0) == [(0.0, 2.0)]
    assert window_bounds(10.0, 5.0) == [(0.0, 5.0), (5.0, 10.0)]
    assert window_bounds(11.0, 5.0) == [(0.0, 5.0), (5.0, 11.0)]  # short rest joins
    assert window_bounds(13.0, 5.0) == [(0.0, 5.0), (5.0, 10.0), (10.0, 13.0)]
    assert window_bounds(13.0, 5.0, 5.0) == window_bounds(13.0, 5.0)
    assert _window_bounds(13.0, 5.0) == window_bounds(13.0, 5.0)  # the old private name


def test_overlapping_windows_count_bounds_and_rest():
    # 3.2 s, 1 s windows every 0.5 s: starts 0 .. 2.0, rest 0.2 s < half a hop: joins
    b = window_bounds(3.2, 1.0, 0.5)
    assert [a for a, _ in b] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert b[-1] == (2.0, 3.2) and all(e - a == pytest.approx(1.0) for a, e in b[:-1])
    # 3.3 s: rest 0.3 s >= half a hop: one more window from the next start to the end
    b = window_bounds(3.3, 1.0, 0.5)
    assert b[-2:] == [(2.0, 3.0), (2.5, 3.3)]
    # exact fit: no extra window, nothing stretched
    assert window_bounds(3.0, 1.0, 0.5)[-1] == (2.0, 3.0)
    assert len(window_bounds(3.0, 1.0, 0.5)) == 5


@pytest.mark.parametrize("duration", [0.3, 1.0, 2.71, 7.05, 12.0, 61.37])
@pytest.mark.parametrize("window,hop", [(1.0, None), (2.0, 0.5), (1.5, 1.0), (3.0, 0.25)])
def test_every_sample_is_in_a_window_and_lengths_are_bounded(duration, window, hop):
    step = window if hop is None else hop
    b = window_bounds(duration, window, hop)
    assert b[0][0] == 0.0 and b[-1][1] == pytest.approx(duration)
    for (a0, e0), (a1, _) in zip(b, b[1:], strict=False):
        assert a1 == pytest.approx(a0 + step) and a1 <= e0 + 1e-9  # no gap
    if duration > window:
        for a, e in b:
            assert window - step / 2 - 1e-6 <= e - a <= window + step / 2 + 1e-6
    else:
        assert b == [(0.0, round(duration, 6))]


def test_complete_only_is_what_a_stream_emits():
    assert window_bounds(3.3, 1.0, 0.5, complete_only=True) == [
        (0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5), (2.0, 3.0)]
    assert window_bounds(0.9, 1.0, complete_only=True) == []
    assert window_bounds(1.0, 1.0, complete_only=True) == [(0.0, 1.0)]


def test_array_windows_are_views_with_the_same_bounds():
    sr = 100
    y = np.arange(330, dtype=np.float32)
    wins = list(iter_array_windows(y, sr, 1.0, 0.5))
    assert [(a, e) for a, e, _ in wins] == window_bounds(3.3, 1.0, 0.5)
    a, e, last = wins[-1]
    assert last[0] == 250 and last[-1] == 329 and np.shares_memory(last, y)
    two = np.stack([y, -y])  # (channels, frames): time on the last axis
    assert list(iter_array_windows(two, sr, 1.0))[0][2].shape == (2, 100)


def test_stream_windows_match_the_whole_signal_however_it_is_cut():
    sr = 1000
    y = np.random.default_rng(0).standard_normal(5_300).astype(np.float32)
    whole = list(iter_array_windows(y, sr, 2.0, 0.5, complete_only=True))
    for chunk in (1, 160, 999, 2_500, 10_000):
        sw = StreamWindows(sr, 2.0, 0.5)
        got = []
        for i in range(0, len(y), chunk):
            got += sw.push(y[i:i + chunk])
        assert [(a, e) for a, e, _ in got] == [(a, e) for a, e, _ in whole]
        for (_, _, w1), (_, _, w2) in zip(got, whole, strict=True):
            np.testing.assert_array_equal(w1, w2)
        assert sw.n_emitted == len(whole)
        assert sw._buffer.shape[-1] <= 2_000 + chunk  # keeps what later windows need only


def test_smoothing_is_a_trailing_mean():
    p = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    s = smooth_probabilities(p, 2)
    np.testing.assert_allclose(s, [[1, 0], [0.5, 0.5], [0.25, 0.75], [0.75, 0.25]])
    np.testing.assert_allclose(smooth_probabilities(p, 3)[2], p[:3].mean(axis=0))
    np.testing.assert_allclose(smooth_probabilities(p, 1), p)
    np.testing.assert_allclose(smooth_probabilities(p, 10)[-1], p.mean(axis=0))
    np.testing.assert_allclose(s.sum(axis=1), 1.0)


@pytest.mark.parametrize("kwargs,words", [
    ({"window": 0}, ["window=0", "--window"]),
    ({"window": -2.0}, ["window=-2.0", "positive"]),
    ({"window": float("nan")}, ["window=nan"]),
    ({"window": "2s"}, ["window='2s'"]),
    ({"window": 2, "hop": 0}, ["hop=0", "--hop"]),
    ({"hop": 0.5}, ["hop=0.5", "--window"]),
    ({"window": 1, "hop": 2}, ["hop=2", "longer than window=1", "at most the window"]),
    ({"window": 1, "smooth": 0}, ["smooth=0", "--smooth"]),
    ({"window": 1, "smooth": 2.5}, ["smooth=2.5"]),
    ({"window": 1, "smooth": True}, ["smooth=True"]),
])
def test_bad_options_are_one_line_errors_naming_the_option(kwargs, words):
    with pytest.raises(DataError) as err:
        check_windows(kwargs.get("window"), kwargs.get("hop"), kwargs.get("smooth"))
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_good_options_pass():
    assert check_windows(None, None, None) == (None, None, 1)
    assert check_windows(2, 0.5, 3) == (2.0, 0.5, 3)
    assert check_windows(1, 1, np.int64(2)) == (1.0, 1.0, 2)
    with pytest.raises(DataError, match="sr="):
        StreamWindows(0, 1.0)
