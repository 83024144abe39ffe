"""Optimizers: first steps against hand-computed numbers, ten steps against torch.optim and against
hand-written NumPy references of torch's rules, state save/restore, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _op_harness import naive_adam, optimizer_cases, reference_trajectory, torch_trajectory
from conftest import make_backend

from nnkit import optimizers, schedules
from nnkit.backend import get_backend
from nnkit.layers.base import Parameter

# the fixtures `backend` (every backend, skipped visibly where unavailable) and `dtype` come from
# conftest.py


def _param(backend, values, dtype="float64", name="w"):
    return Parameter(backend.asarray(np.array(values, dtype=dtype)), name)  # a copy: updates are in place


def _run(opt, backend, w0, grads, dtype="float64"):
    """Apply ``opt`` to a parameter starting at ``w0`` with gradients ``grads``; the trajectory."""
    p = _param(backend, w0, dtype)
    out = []
    for g in grads:
        p.grad = backend.asarray(np.array(g, dtype=dtype))
        opt.step([p], backend)
        out.append(np.array(backend.to_numpy(p.value), dtype=np.float64))
    return np.array(out)


def _rtol(dtype):
    return 1e-12 if dtype == "float64" else 2e-6


# -- first steps by hand: w = 1, g = 0.5 at every step (the cases' first_steps) ----------------
@pytest.mark.parametrize("case", optimizer_cases("first_steps"), ids=repr)
def test_first_two_steps_by_hand(case, backend, dtype):
    expected = case.first_steps() if callable(case.first_steps) else case.first_steps
    opt = case.make()
    traj = _run(opt, backend, [1.0], [[0.5], [0.5]], dtype)
    np.testing.assert_allclose(traj[:, 0], expected, rtol=_rtol(dtype), atol=0)
    assert opt.iterations == 2


def test_updates_keep_dtype_and_identity(backend, dtype):
    for opt in (case.make() for case in optimizer_cases("keeps_dtype")):
        p = _param(backend, [[1.0, -2.0]], dtype)
        value = p.value
        p.grad = backend.asarray(np.array([[0.5, 0.25]], dtype=dtype))
        opt.step([p], backend)
        assert p.value is value  # updated in place
        assert backend.dtype_name(p.value.dtype) == dtype
        assert all(backend.dtype_name(a.dtype) == dtype for a in opt._state[p.id].values())


# -- ten steps against NumPy references of torch's rules and against torch.optim ----------------
W0 = np.array([[0.3, -1.2, 2.0], [0.7, -0.05, 1.5]])
GRADS = np.random.default_rng(1234).normal(size=(10, 2, 3))


@pytest.mark.parametrize("case", optimizer_cases("ten_steps"), ids=repr)
def test_ten_steps_match_numpy_reference(case, backend, dtype):
    traj = _run(case.make(), backend, W0, GRADS, dtype)
    expected = reference_trajectory(case, W0, GRADS)
    if dtype == "float64":
        np.testing.assert_allclose(traj, expected, rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_allclose(traj, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", optimizer_cases("ten_steps"), ids=repr)
def test_ten_steps_match_torch(case):
    torch = pytest.importorskip("torch")
    expected = torch_trajectory(torch, case, W0, GRADS)
    traj = _run(case.make(), get_backend("numpy"), W0, GRADS)
    np.testing.assert_allclose(traj, expected, rtol=1e-12, atol=1e-14)
    # the NumPy references that run without torch are themselves torch's trajectory
    np.testing.assert_allclose(reference_trajectory(case, W0, GRADS), expected, rtol=1e-12, atol=1e-14)


def test_schedule_matches_torch_step_lr():
    torch = pytest.importorskip("torch")
    kw = dict(momentum=0.9, nesterov=True, weight_decay=0.01)
    opt = optimizers.SGD(lr=schedules.StepDecay(0.1, step_size=3, gamma=0.5), **kw)
    traj = _run(opt, get_backend("numpy"), W0, GRADS)
    w = torch.tensor(W0, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1, **kw)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    expected = []
    for g in GRADS:
        w.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()
        sched.step()
        expected.append(w.detach().numpy().copy())
    np.testing.assert_allclose(traj, np.array(expected), rtol=1e-12, atol=1e-14)
    assert opt.current_lr == pytest.approx(0.1 * 0.5**3)  # 10 steps taken: 10 // 3 = 3 decays


def test_defaults_are_torch_defaults():
    expected = {
        "SGD": dict(lr=0.001, momentum=0.0, nesterov=False, weight_decay=0.0),
        "Adagrad": dict(lr=0.01, lr_decay=0.0, weight_decay=0.0, eps=1e-10, initial_accumulator_value=0.0),
        "RMSprop": dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False),
        "Adam": dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
        "AdamW": dict(lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01),
    }
    for name, values in expected.items():
        config = optimizers.get(name.lower()).get_config()
        assert config == {"class": name, **values}
    try:
        import torch
    except ImportError:
        return
    w = torch.zeros(1, requires_grad=True)
    for name, values in expected.items():
        defaults = getattr(torch.optim, name)([w]).defaults
        for key, value in values.items():
            if key in ("beta1", "beta2"):
                assert defaults["betas"][key == "beta2"] == value
            else:
                assert defaults[key] == value, (name, key)


# -- the learning rate -------------------------------------------------------------------------
def test_schedule_is_evaluated_with_the_zero_based_step():
    be = get_backend("numpy")
    opt = optimizers.SGD(lr=schedules.InverseTimeDecay(0.1, decay_rate=1.0))
    assert opt.current_lr == pytest.approx(0.1)  # step 0: 0.1 / (1 + 0)
    # steps use 0.1, 0.05, 0.1/3: w = 1 - 0.1*1 - 0.05*1 - (0.1/3)*1
    traj = _run(opt, be, [1.0], [[1.0]] * 3)
    np.testing.assert_allclose(traj[:, 0], [0.9, 0.85, 0.85 - 0.1 / 3], rtol=1e-12)
    assert opt.current_lr == pytest.approx(0.025)  # step 3: 0.1 / 4


def test_lr_can_be_changed_between_steps():
    be = get_backend("numpy")
    opt = optimizers.SGD(lr=0.1)
    p = _param(be, [1.0])
    p.grad = be.asarray(np.array([1.0]))
    opt.step([p], be)
    opt.lr = 0.01
    opt.step([p], be)
    assert p.value[0] == pytest.approx(1 - 0.1 - 0.01, rel=1e-12)
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -0.5


def test_a_schedule_giving_a_negative_rate_is_an_error():
    opt = optimizers.SGD(lr=lambda step: -1.0)
    with pytest.raises(ValueError, match="-1.0"):
        opt.current_lr


# -- parameters --------------------------------------------------------------------------------
def test_state_is_per_parameter_and_params_without_grad_are_skipped():
    be = get_backend("numpy")
    opt = optimizers.SGD(lr=0.1, momentum=0.9)
    a, b, c = _param(be, [1.0], name="a"), _param(be, [1.0, 1.0], name="b"), _param(be, [5.0], name="c")
    a.grad, b.grad = be.asarray(np.array([1.0])), be.asarray(np.array([0.5, -0.5]))
    opt.step([a, b, c], be)
    opt.step([a, b, c], be)
    # a: B = 1, 1.9 -> 1 - 0.1 - 0.19; b: B = +-0.5, +-0.95 -> 1 -+ 0.145
    np.testing.assert_allclose(a.value, [0.71], rtol=1e-12)
    np.testing.assert_allclose(b.value, [0.855, 1.145], rtol=1e-12)
    assert c.value[0] == 5.0 and c.id not in opt._state
    assert opt.iterations == 2


def test_gradient_of_wrong_shape_is_an_error():
    be = get_backend("numpy")
    p = _param(be, [1.0, 2.0], name="dense/W")
    p.grad = be.asarray(np.array([1.0]))
    with pytest.raises(ValueError, match=r"dense/W.*\(1,\).*\(2,\)"):
        optimizers.Adam().step([p], be)


def test_step_without_backend_is_an_error():
    with pytest.raises(TypeError, match="backend"):
        optimizers.Adam().step([], None)


# -- state -------------------------------------------------------------------------------------
def _params_for(backend, dtype, values):
    return [_param(backend, v, dtype, name=f"p{i}") for i, v in enumerate(values)]


def _steps(opt, params, backend, grads, dtype):
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = backend.asarray(np.array(g, dtype=dtype))
        opt.step(params, backend)


@pytest.mark.parametrize("case", optimizer_cases("resumes"), ids=repr)
def test_saved_state_resumes_identically(case, backend, dtype):
    rng = np.random.default_rng(7)
    values = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    grads = [[rng.normal(size=(3, 2)), rng.normal(size=(2,))] for _ in range(8)]
    opt = case.make()
    params = _params_for(backend, dtype, values)
    _steps(opt, params, backend, grads[:4], dtype)

    config = json.loads(json.dumps(opt.get_config()))
    state = opt.get_state(params)
    assert int(state["iterations"]) == 4
    assert sorted(k for k in state if k != "iterations") == sorted(
        f"{i}/{n}" for i in range(2) for n in type(opt)._state_names)
    assert all(isinstance(a, np.ndarray) for a in state.values())

    restored = optimizers.from_config(config)
    copies = _params_for(backend, dtype, [backend.to_numpy(p.value) for p in params])
    restored.set_state(state, copies, backend)
    assert restored.current_lr == opt.current_lr

    _steps(opt, params, backend, grads[4:], dtype)
    _steps(restored, copies, backend, grads[4:], dtype)
    for p, q in zip(params, copies):
        np.testing.assert_array_equal(backend.to_numpy(p.value), backend.to_numpy(q.value))
    assert restored.iterations == opt.iterations == 8


def test_saved_state_is_a_copy():
    be = get_backend("numpy")
    opt = optimizers.Adam(lr=0.1)
    p = _param(be, [1.0])
    p.grad = be.asarray(np.array([0.5]))
    opt.step([p], be)
    state = opt.get_state([p])
    m = state["0/m"].copy()
    opt.step([p], be)
    np.testing.assert_array_equal(state["0/m"], m)
    np.testing.assert_allclose(m, [0.05], rtol=1e-12)  # M1 = (1 - 0.9) * 0.5


def test_state_restores_onto_another_backend():
    src = get_backend("numpy")
    dst = make_backend("array_api_strict")
    opt = optimizers.RMSprop(lr=0.01, centered=True, momentum=0.9)
    p = _param(src, W0)
    for g in GRADS[:5]:
        p.grad = src.asarray(g)
        opt.step([p], src)
    state = opt.get_state([p])
    q = _param(dst, src.to_numpy(p.value))
    moved = optimizers.from_config(opt.get_config())
    moved.set_state(state, [q], dst)
    for g in GRADS[5:]:
        p.grad = src.asarray(g)
        opt.step([p], src)
        q.grad = dst.asarray(g)
        moved.step([q], dst)
    np.testing.assert_allclose(dst.to_numpy(q.value), p.value, rtol=1e-12, atol=1e-15)


def test_to_moves_state_and_step_follows_the_parameters():
    numpy_be = get_backend("numpy")
    strict = make_backend("array_api_strict")
    expected = naive_adam(W0, GRADS, lr=0.01)
    opt = optimizers.Adam(lr=0.01)
    p = _param(numpy_be, W0)
    for i, g in enumerate(GRADS):
        be = numpy_be if i < 3 else strict
        if i == 3:
            p.value = strict.asarray(numpy_be.to_numpy(p.value))
            opt.to(strict)
        if i == 6:  # without to(): step moves the state to the parameters' backend itself
            p.value = numpy_be.asarray(strict.to_numpy(p.value))
            be = numpy_be
        elif i > 6:
            be = numpy_be
        p.grad = be.asarray(g)
        opt.step([p], be)
        np.testing.assert_allclose(be.to_numpy(p.value), expected[i], rtol=1e-12, atol=1e-15)
    assert opt._backend is numpy_be
    assert all(isinstance(a, np.ndarray) for a in opt._state[p.id].values())


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.pop("iterations"), "iterations"),
    (lambda s: s.__setitem__("iterations", np.array(-1)), "iterations"),
    (lambda s: s.__setitem__("iterations", np.array(2.5)), "iterations"),
    (lambda s: s.__setitem__("0/q", np.zeros(1)), "0/q"),
    (lambda s: s.__setitem__("5/m", np.zeros(1)), "5/m"),
    (lambda s: s.pop("0/v"), r"lacks \['v'\]"),
    (lambda s: s.__setitem__("0/m", np.zeros(3)), r"'0/m' has shape \(3,\), expected \(1,\)"),
])
def test_bad_state_is_rejected(mutate, message):
    be = get_backend("numpy")
    opt = optimizers.Adam()
    p = _param(be, [1.0])
    p.grad = be.asarray(np.array([0.5]))
    opt.step([p], be)
    state = opt.get_state([p])
    mutate(state)
    fresh = optimizers.Adam()
    with pytest.raises(ValueError, match=message):
        fresh.set_state(state, [_param(be, [1.0])], be)
    assert fresh.iterations == 0 and not fresh._state  # nothing half-restored


# -- configuration and names -------------------------------------------------------------------
def test_get_resolves_names_instances_and_configs():
    assert isinstance(optimizers.get("ADAM"), optimizers.Adam)
    assert isinstance(optimizers.get("AdamW"), optimizers.AdamW)
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    opt = optimizers.SGD(lr=0.1)
    assert optimizers.get(opt) is opt
    rebuilt = optimizers.get({"class": "SGD", "lr": {"class": "StepDecay", "initial_lr": 0.1, "step_size": 2}})
    assert isinstance(rebuilt.lr, schedules.StepDecay) and rebuilt.current_lr == 0.1
    with pytest.raises(ValueError, match=r"'adamax'.*\['adagrad', 'adam', 'adamw', 'rmsprop', 'sgd'\]"):
        optimizers.get("adamax")
    with pytest.raises(TypeError, match="int"):
        optimizers.get(3)
    with pytest.raises(ValueError, match="Nadam"):
        optimizers.from_config({"class": "Nadam"})


def test_config_round_trip_through_json():
    opt = optimizers.RMSprop(lr=schedules.CosineDecay(0.01, 100, alpha=0.1), alpha=0.9, centered=True)
    config = json.loads(json.dumps(opt.get_config()))
    assert config["lr"] == {"class": "CosineDecay", "initial_lr": 0.01, "decay_steps": 100, "alpha": 0.1,
                            "warmup_steps": 0, "warmup_target": None}
    again = optimizers.from_config(config)
    assert again.get_config() == config
    with pytest.raises(TypeError, match="get_config"):
        optimizers.SGD(lr=lambda step: 0.1).get_config()


@pytest.mark.parametrize("make, argument, value", [
    (lambda: optimizers.SGD(lr=-0.1), "lr", "-0.1"),
    (lambda: optimizers.Adam(lr=float("nan")), "lr", "nan"),
    (lambda: optimizers.SGD(momentum=1.0), "momentum", "1.0"),
    (lambda: optimizers.SGD(momentum=-0.5), "momentum", "-0.5"),
    (lambda: optimizers.SGD(nesterov=True), "nesterov", "momentum=0.0"),
    (lambda: optimizers.SGD(weight_decay=-1), "weight_decay", "-1"),
    (lambda: optimizers.Adam(beta1=1.0), "beta1", "1.0"),
    (lambda: optimizers.Adam(beta2=-0.1), "beta2", "-0.1"),
    (lambda: optimizers.AdamW(beta1=1.5), "beta1", "1.5"),
    (lambda: optimizers.Adam(eps=-1e-8), "eps", "-1e-08"),
    (lambda: optimizers.RMSprop(alpha=1.0), "alpha", "1.0"),
    (lambda: optimizers.RMSprop(momentum=1.2), "momentum", "1.2"),
    (lambda: optimizers.Adagrad(lr_decay=-0.1), "lr_decay", "-0.1"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value", "-1.0"),
])
def test_bad_hyperparameters_raise_value_error(make, argument, value):
    with pytest.raises(ValueError) as info:
        make()
    assert argument in str(info.value) and value in str(info.value)


@pytest.mark.parametrize("make, argument", [
    (lambda: optimizers.SGD(lr="fast"), "lr"),
    (lambda: optimizers.SGD(momentum=0.9, nesterov="yes"), "nesterov"),
    (lambda: optimizers.RMSprop(centered=1), "centered"),
    (lambda: optimizers.Adam(beta1=None), "beta1"),
])
def test_bad_types_raise_type_error(make, argument):
    with pytest.raises(TypeError, match=argument):
        make()
