"""The command line behaves as command-line tools do: a bad value is a one-line usage error (exit
status 2, the option named, no traceback) before any work; --version; -h shows choices and
defaults; a missing optional package is named with its install commands before work starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nnkit import _deps, cli

USAGE_ERRORS = [
    (["--activation", "foo"], "--activation", "'foo'"),
    (["--lr", "-1"], "--lr", "'-1'"),
    (["--lr", "0"], "--lr", "'0'"),
    (["--lr", "nan"], "--lr", "'nan'"),
    (["--batch-size", "0"], "--batch-size", "'0'"),
    (["--noise", "7"], "--noise", "'7'"),
    (["--epochs", "-1"], "--epochs", "'-1'"),
    (["--epochs", "0"], "--epochs", "'0'"),
    (["--momentum", "5"], "--momentum", "'5'"),
    (["--momentum", "0.9"], "--momentum", "adam"),  # adam (the default) has no momentum
    (["--optimizer", "adagrad", "--momentum", "0.5"], "--momentum", "adagrad"),
    (["--test-fraction", "-1"], "--test-fraction", "'-1'"),
    (["--test-fraction", "1"], "--test-fraction", "'1'"),
    (["--save", "/nonexistent/dir/m.npz"], "--save", "/nonexistent/dir"),
    (["--hidden", "0"], "--hidden", "'0'"),
    (["--hidden", "8,x"], "--hidden", "'8,x'"),
    (["--seed", "-3"], "--seed", "'-3'"),
    (["--samples", "3"], "--samples", "'3'"),
    (["--optimizer", "lbfgs"], "--optimizer", "'lbfgs'"),
    (["--backend", "tpu"], "--backend", "'tpu'"),
    (["--dataset", "moons"], "--dataset", "'moons'"),
]


@pytest.mark.parametrize("words, option, shown", USAGE_ERRORS, ids=[" ".join(w) for w, _, _ in USAGE_ERRORS])
def test_bad_train_value_is_a_one_line_usage_error(words, option, shown, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", *words])
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran: no header, no training
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nnkit train: error: argument " + option), lines[0]
    assert shown in lines[0]
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # and nothing was written


def test_save_into_a_folder_that_exists_is_accepted_and_written(tmp_path, capsys):
    path = tmp_path / "m.npz"
    assert cli.main(["train", "--epochs", "2", "--samples", "40", "--backend", "numpy", "--save", str(path)]) == 0
    assert path.exists()
    out = capsys.readouterr().out
    assert f"saved to {path}" in out


def test_bad_value_from_the_shell_exits_2_without_traceback():
    out = subprocess.run([sys.executable, "-m", "nnkit", "train", "--noise", "7"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and "argument --noise" in out.stderr and "Traceback" not in out.stderr


def test_version(capsys):
    import nnkit

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnkit {nnkit.__version__}"


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["train", "bench", "demo", "playground"])
def test_help_shows_choices_and_defaults(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "-h"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "(default: " in text
    if command == "train":
        assert "{circle,xor,gauss,spiral,reg-plane,reg-gauss,digits}" in text
        assert "--activation {step,linear,sigmoid,tanh,relu" in text
        assert "--optimizer {sgd,adam,adamw,adagrad,rmsprop}" in text
        for default in ("(default: spiral)", "(default: 16,16)", "(default: adam)", "(default: 0.01)",
                        "(default: 300)", "(default: auto)"):
            assert default in text, default
        # the Python API's default backend differs from the command's, and the help says so
        assert "the Python API's default is numpy" in text
    if command == "bench":
        assert "--energy {auto,nvml,rapl,estimate}" in text


def test_train_with_no_options_learns_its_default_data_set(capsys):
    # the defaults are the README's main command: spiral, 16,16 tanh, adam lr 0.01, batch 10,
    # 300 epochs (on numpy here, so the test does not depend on numba)
    assert cli.main(["train", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    test_line = next(line for line in out.splitlines() if line.startswith("test: "))
    accuracy = float(test_line.split("accuracy")[1])
    assert accuracy >= 0.95, out


def test_train_reports_backend_time_and_accuracy_in_bounded_lines(capsys):
    assert cli.main(["train", "--backend", "numpy", "--epochs", "300", "--samples", "60"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "backend: numpy (asked for with --backend)"
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split()[1] for line in epochs] == [f"{k}/300" for k in range(30, 301, 30)]
    assert len(lines) <= 16
    last = lines[-1]
    assert last.startswith("done in ") and " s on numpy: train accuracy " in last and ", test accuracy " in last


def test_auto_backend_says_why():
    backend, why = cli._backend_and_why("auto")
    assert why.startswith("chosen by --backend auto")
    assert ("numba is installed" in why) == (backend.name == "numba")


def _hide(monkeypatch, module):
    """Make ``module`` look uninstalled to nnkit's dependency checks."""
    real = _deps.is_installed
    monkeypatch.setattr(_deps, "is_installed", lambda name: False if name == module else real(name))


@pytest.mark.parametrize("words, module, extra", [
    (["train", "--dataset", "digits"], "sklearn", "sklearn"),
    (["train", "--backend", "numba"], "numba", "numba"),
    (["demo", "regularization", "--quick"], "sklearn", "sklearn"),
    (["demo", "hebbian", "--quick"], "sklearn", "sklearn"),
    (["demo", "adversarial", "--quick"], "sklearn", "sklearn"),
    (["demo", "vanishing", "--quick"], "sklearn", "sklearn"),
    (["demo", "perceptron", "--plot", "figs"], "matplotlib", "plot"),
    (["playground", "--plot", "p.png"], "matplotlib", "plot"),
])
def test_missing_optional_dependency_is_named_before_any_work(words, module, extra, monkeypatch, capsys,
                                                               tmp_path):
    monkeypatch.chdir(tmp_path)
    _hide(monkeypatch, module)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(words)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert f'pip install -e ".[{extra}]"' in err and f'pip install "nnkit[{extra}]"' in err
    assert list(tmp_path.iterdir()) == []


def test_the_readme_states_the_default_backends():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    assert "`nnkit train` defaults to `--backend auto`" in readme


def test_digits_without_scikit_learn_names_the_install_commands(monkeypatch):
    import nnkit as nk

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(_deps.MissingDependency) as info:
        nk.datasets.digits()
    assert 'pip install -e ".[sklearn]"' in str(info.value) and 'pip install "nnkit[sklearn]"' in str(info.value)


def test_a_demo_without_its_package_raises_before_any_work(monkeypatch):
    from nnkit.demos import run_demo

    _hide(monkeypatch, "sklearn")
    with pytest.raises(_deps.MissingDependency, match="sklearn"):
        run_demo("hebbian", quick=True)
