"""Every ``nnkit demo`` runs at quick sizes and writes its figures; the backprop demo reproduces the
lecture's 2-2-2 worked example (Mazur 2015) to the printed digits."""

from __future__ import annotations

import pytest

from nnkit.cli import main
from nnkit.demos import DEMOS, run_demo

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", list(DEMOS))
def test_demo_runs_and_draws(name, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    result = run_demo(name, quick=True, plot_dir=tmp_path)
    out = capsys.readouterr().out
    assert len(out.splitlines()) >= 4
    assert "None" not in [line.strip() for line in out.splitlines()], "a demo printed a None return value"
    assert result["figures"], f"{name} wrote no figure"
    for path in result["figures"]:
        with open(path, "rb") as f:
            assert f.read(8) == PNG
    check = CHECKS.get(name)
    if check:
        check(result)


def _backprop(r):
    # the hand-computed values of the worked example
    assert r["E_total"] == pytest.approx(0.298371109, abs=1e-9)
    assert r["out_h"] == pytest.approx([0.593269992, 0.596884378], abs=1e-9)
    assert r["out_o"] == pytest.approx([0.75136507, 0.772928465], abs=1e-9)
    assert r["dE_dout_o"][0] == pytest.approx(0.74136507, abs=1e-9)
    assert r["dout_dnet_o"][0] == pytest.approx(0.186815602, abs=1e-9)
    assert r["dE_dout_h"][0] == pytest.approx(0.036350306, abs=1e-9)
    assert r["dout_dnet_h"][0] == pytest.approx(0.241300709, abs=1e-9)
    assert r["gradients"]["w5"] == pytest.approx(0.082167041, abs=1e-9)
    assert r["gradients"]["w1"] == pytest.approx(0.000438568, abs=1e-9)
    expected = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    for name, value in expected.items():
        assert r["updated"][name] == pytest.approx(value, abs=1e-8), name
    assert r["E_total_after"] < r["E_total"]


def _perceptron(r):
    assert r["gauss"]["stop_reason"] == "converged" and r["gauss"]["accuracy"] == 1.0
    assert r["xor"]["stop_reason"] != "converged" and r["xor"]["accuracy"] < 0.8


def _gradient_descent(r):
    runs = r["runs"]
    assert runs["about right"]["final_loss"] < runs["too small"]["final_loss"] < runs["too large"]["final_loss"]
    assert runs["too large"]["loss"][-1] > runs["too large"]["loss"][0]  # diverges


def _sgd(r):
    runs = r["runs"]
    assert runs["stochastic (1)"]["updates"] > runs["mini-batch 16"]["updates"] > runs["full batch"]["updates"]
    assert runs["stochastic (1)"]["loss"][-1] < runs["full batch"]["loss"][-1]


def _optimizers(r):
    assert set(r["runs"]) == {"SGD", "momentum 0.9", "Nesterov 0.9", "Adagrad", "RMSprop", "Adam"}
    assert all(v["loss"][-1] < v["loss"][0] for v in r["runs"].values())


def _regularization(r):
    runs = r["runs"]
    assert runs["none"]["train_loss"] < runs["none"]["test_loss"]
    assert runs["L2 1e-3"]["train_loss"] > runs["none"]["train_loss"]  # the penalty costs training fit
    assert runs["early stopping"]["epochs"] <= 40


def _vanishing(r):
    assert r["runs"]["sigmoid"]["ratio_at_init"] <= 1e-2 < r["runs"]["residual"]["ratio_at_init"]
    rnn, lstm = (r["through_time"]["runs"][k]["trained"] for k in ("SimpleRNN", "LSTM"))
    assert rnn[-1] / rnn[0] < 0.05 * (lstm[-1] / lstm[0])  # oldest / newest step: the tanh RNN loses it


def _rnn(r):
    runs = r["runs"]
    assert not runs["SimpleRNN"]["learned"] and runs["GRU"]["learned"]
    assert runs["GRU"]["val_loss"][-1] < 0.1 * min(runs["SimpleRNN"]["val_loss"])


def _adversarial(r):
    from nnkit.demos.adversarial import DEMO_EPSILON

    assert r["rates"][DEMO_EPSILON] >= 0.8
    assert r["max_perturbation"] <= DEMO_EPSILON + 1e-6
    assert r["range"][0] >= 0.0 and r["range"][1] <= 1.0


def _hebbian(r):
    assert r["hebbian_accuracy"] >= 0.9 and r["backprop_accuracy"] >= 0.9
    assert min(r["pc_cosines"]) > 0.95


def _brain(r):
    assert r["measured_updates_per_joule"] > 0
    assert any(row["kind"] == "brain" for row in r["rows"])


CHECKS = {"backprop": _backprop, "perceptron": _perceptron, "gradient-descent": _gradient_descent, "sgd": _sgd,
          "optimizers": _optimizers, "regularization": _regularization, "vanishing": _vanishing, "rnn": _rnn,
          "adversarial": _adversarial, "hebbian": _hebbian, "brain": _brain}


def test_cli_lists_and_rejects(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in DEMOS:
        assert name in out
    with pytest.raises(SystemExit) as exit_info:  # a usage error, on one line, before any work
        main(["demo", "no-such-demo"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument NAME" in err and "'no-such-demo'" in err
    assert main(["demo", "backprop"]) == 0
    assert "0.298371109" in capsys.readouterr().out


def test_unknown_name_raises():
    with pytest.raises(ValueError, match="unknown"):
        run_demo("nope")
