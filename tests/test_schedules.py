"""Learning-rate schedules: values at several steps against hand-computed numbers, configs,
validation."""

from __future__ import annotations

import json
import math

import pytest

from nnkit import schedules

C1 = math.cos(math.pi / 4)  # 0.70710678...


@pytest.mark.parametrize("schedule, expected", [
    # 0.1 * 0.5^(step // 3)
    (schedules.StepDecay(0.1, step_size=3, gamma=0.5),
     {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.05, 5: 0.05, 6: 0.025, 30: 0.1 * 0.5**10}),
    # default gamma 0.1: 1.0, then 0.1 from step 2
    (schedules.StepDecay(1.0, step_size=2), {0: 1.0, 1: 1.0, 2: 0.1, 4: 0.01}),
    # 0.1 * 0.5^(step / 2)
    (schedules.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=2),
     {0: 0.1, 1: 0.1 * 0.5**0.5, 2: 0.05, 3: 0.1 * 0.5**1.5, 4: 0.025}),
    # exponent floored: 0.1, 0.1, 0.05, 0.05, 0.025
    (schedules.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=2, staircase=True),
     {0: 0.1, 1: 0.1, 2: 0.05, 3: 0.05, 4: 0.025}),
    # decay_steps 1: 0.2 * 0.9^step
    (schedules.ExponentialDecay(0.2, decay_rate=0.9), {0: 0.2, 1: 0.18, 2: 0.162, 10: 0.2 * 0.9**10}),
    # 0.1 / (1 + 0.5 step / 2): 0.1, 0.08, 0.1/1.5, 0.1/1.75, 0.05
    (schedules.InverseTimeDecay(0.1, decay_rate=0.5, decay_steps=2),
     {0: 0.1, 1: 0.08, 2: 0.1 / 1.5, 3: 0.1 / 1.75, 4: 0.05}),
    # ratio floored: 0.1, 0.1, 0.1/1.5, 0.1/1.5, 0.05
    (schedules.InverseTimeDecay(0.1, decay_rate=0.5, decay_steps=2, staircase=True),
     {0: 0.1, 1: 0.1, 2: 0.1 / 1.5, 3: 0.1 / 1.5, 4: 0.05}),
    # 0.1 * 0.5 (1 + cos(pi step / 4)), constant after step 4
    (schedules.CosineDecay(0.1, decay_steps=4),
     {0: 0.1, 1: 0.05 * (1 + C1), 2: 0.05, 3: 0.05 * (1 - C1), 4: 0.0, 10: 0.0}),
    # alpha 0.1: 0.1 * (0.9 * cosine + 0.1): step 2 -> 0.055, step >= 4 -> 0.01
    (schedules.CosineDecay(0.1, decay_steps=4, alpha=0.1),
     {0: 0.1, 1: 0.1 * (0.9 * 0.5 * (1 + C1) + 0.1), 2: 0.055, 4: 0.01, 9: 0.01}),
    # warm-up 0 -> 0.1 over 2 steps (0, 0.05), then the cosine from 0.1 over 4 steps
    (schedules.CosineDecay(0.0, decay_steps=4, warmup_steps=2, warmup_target=0.1),
     {0: 0.0, 1: 0.05, 2: 0.1, 3: 0.05 * (1 + C1), 4: 0.05, 5: 0.05 * (1 - C1), 6: 0.0, 100: 0.0}),
    # warm-up 0.01 -> 0.11 over 4 steps: 0.01 + 0.1 step / 4; then to alpha*target = 0.011
    (schedules.CosineDecay(0.01, decay_steps=2, alpha=0.1, warmup_steps=4, warmup_target=0.11),
     {0: 0.01, 1: 0.035, 3: 0.085, 4: 0.11, 5: 0.11 * (0.9 * 0.5 + 0.1), 6: 0.011, 50: 0.011}),
])
def test_values_at_steps(schedule, expected):
    for step, value in expected.items():
        assert schedule(step) == pytest.approx(value, rel=1e-12, abs=1e-15), step
        assert isinstance(schedule(step), float)


def test_cosine_decay_matches_keras_when_installed():
    keras = pytest.importorskip("keras")
    ours = schedules.CosineDecay(0.001, decay_steps=7, alpha=0.2, warmup_steps=3, warmup_target=0.01)
    theirs = keras.optimizers.schedules.CosineDecay(0.001, 7, alpha=0.2, warmup_steps=3, warmup_target=0.01)
    for step in range(14):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-6)


def test_steps_accept_integer_like_values():
    np = pytest.importorskip("numpy")
    s = schedules.StepDecay(0.1, 2)
    assert s(np.int64(2)) == pytest.approx(0.01)


@pytest.mark.parametrize("schedule", [
    schedules.StepDecay(0.1, step_size=3, gamma=0.5),
    schedules.ExponentialDecay(0.1, 0.96, decay_steps=100, staircase=True),
    schedules.InverseTimeDecay(0.5, 1.0, decay_steps=10),
    schedules.CosineDecay(0.0, 100, alpha=0.05, warmup_steps=10, warmup_target=0.1),
])
def test_config_round_trip(schedule):
    config = json.loads(json.dumps(schedule.get_config()))
    assert config["class"] == type(schedule).__name__
    for rebuilt in (schedules.from_config(config), type(schedule).from_config(config),
                    schedules.Schedule.from_config(config), schedules.get(config)):
        assert rebuilt == schedule
        assert [rebuilt(s) for s in (0, 7, 50, 200)] == [schedule(s) for s in (0, 7, 50, 200)]


def test_get():
    s = schedules.StepDecay(0.1, 2)
    assert schedules.get(s) is s
    f = lambda step: 0.1  # noqa: E731
    assert schedules.get(f) is f
    with pytest.raises(ValueError, match="StepDecay"):
        schedules.get("step_decay")
    with pytest.raises(TypeError, match="float"):
        schedules.get(0.1)
    with pytest.raises(ValueError, match="'Warmup'"):
        schedules.from_config({"class": "Warmup"})
    with pytest.raises(ValueError, match="'StepDecay'"):
        schedules.CosineDecay.from_config(s.get_config())


@pytest.mark.parametrize("make, exc, argument, value", [
    (lambda: schedules.StepDecay(-0.1, 2), ValueError, "initial_lr", "-0.1"),
    (lambda: schedules.StepDecay(0.1, 0), ValueError, "step_size", "0"),
    (lambda: schedules.StepDecay(0.1, 2.5), TypeError, "step_size", "2.5"),
    (lambda: schedules.StepDecay(0.1, 2, gamma=0.0), ValueError, "gamma", "0.0"),
    (lambda: schedules.ExponentialDecay(0.1, 0.0), ValueError, "decay_rate", "0.0"),
    (lambda: schedules.ExponentialDecay(0.1, 0.5, decay_steps=-3), ValueError, "decay_steps", "-3"),
    (lambda: schedules.ExponentialDecay(0.1, 0.5, staircase="yes"), TypeError, "staircase", "yes"),
    (lambda: schedules.InverseTimeDecay(0.1, -1.0), ValueError, "decay_rate", "-1.0"),
    (lambda: schedules.InverseTimeDecay(float("inf"), 1.0), ValueError, "initial_lr", "inf"),
    (lambda: schedules.CosineDecay(0.1, 0), ValueError, "decay_steps", "0"),
    (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), ValueError, "alpha", "1.5"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1, warmup_target=0.2), ValueError,
     "warmup_steps", "-1"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=5), ValueError, "warmup_steps", "warmup_target"),
    (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=5, warmup_target=-1.0), ValueError,
     "warmup_target", "-1.0"),
])
def test_bad_arguments(make, exc, argument, value):
    with pytest.raises(exc) as info:
        make()
    assert argument in str(info.value) and value in str(info.value)


@pytest.mark.parametrize("step, exc", [(-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_bad_steps(step, exc):
    for schedule in (schedules.StepDecay(0.1, 2), schedules.ExponentialDecay(0.1, 0.5),
                     schedules.InverseTimeDecay(0.1, 0.5), schedules.CosineDecay(0.1, 5)):
        with pytest.raises(exc, match="step"):
            schedule(step)
