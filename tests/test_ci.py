""".ci/run runs the README's two commands as the README writes them, on a fresh environment; the
extras declare what their features import."""

from __future__ import annotations

import os
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    """The command lines of the README's Set-up section's bash blocks, in order."""
    text = (ROOT / "README.md").read_text()
    setup = re.split(r"\n##+ ", text.split("## Set-up", 1)[1], maxsplit=1)[0]  # up to its first subsection
    blocks = re.findall(r"```bash\n(.*?)```", setup, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def _ci_lines() -> list[str]:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_readme_has_the_main_and_the_test_command():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main, tests = commands
    assert main.startswith('python3 -m pip install -e ".[numba]" && nnkit train ')
    assert tests == 'python3 -m pip install -e ".[dev]" && python3 -m pytest -q'


def test_ci_runs_both_readme_commands_exactly_in_order():
    ci = _ci_lines()
    positions = []
    for command in _readme_commands():
        assert command in ci, f".ci/run does not run the README's command as written: {command}"
        positions.append(ci.index(command))
    assert positions == sorted(positions), "the main command runs before the test command"


def test_ci_makes_a_fresh_environment_and_home_before_the_commands():
    ci = _ci_lines()
    first_command = ci.index(_readme_commands()[0])
    before = "\n".join(ci[:first_command])
    assert re.search(r"python3 -m venv ", before) and "/bin/activate" in before
    assert "--system-site-packages" not in before
    for variable in ("HOME", "XDG_CACHE_HOME", "PIP_CACHE_DIR", "NUMBA_CACHE_DIR"):
        assert re.search(rf'export {variable}="\$(fresh|HOME|XDG_CACHE_HOME)', before), variable
    assert "mktemp -d" in before


def test_ci_fails_when_pytest_collects_nothing():
    text = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'if \[ "\$status" -eq 5 \]; then\n.*\n\s*exit 1', text)


def _extras() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"]


def _names(requirements) -> set:
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_numba_extra_brings_scipy_for_np_dot_in_compiled_code():
    # the fused kernels call np.dot inside @njit, which Numba lowers to SciPy's BLAS
    jit_source = (ROOT / "kernels" / "numba" / "_jit.py").read_text()
    assert "np.dot(" in jit_source
    extras = _extras()
    assert {"numba", "scipy"} <= _names(extras["numba"])
    assert {"numba", "scipy"} <= _names(extras["dev"])


def test_the_sklearn_extra_has_validate_data():
    extras = _extras()
    for name in ("sklearn", "digits"):
        assert extras[name] == ["scikit-learn>=1.6"], name
    assert "scikit-learn>=1.6" in extras["dev"]
    assert "matplotlib" in _names(extras["plot"])


def test_skip_summary_is_one_line_per_reason_and_names_the_simulated_gpu():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_regularizers.py"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT).stdout
    assert "SKIPPED [" not in out  # pytest's own line per test location is off
    lines = [line for line in out.splitlines() if re.match(r"\s*\d+ skipped: ", line)]
    reasons = [line.split(" skipped: ", 1)[1] for line in lines]
    assert len(reasons) == len(set(reasons))
    counted = sum(int(line.split()[0]) for line in lines)
    assert counted == 0 or f"{counted} skipped" in out.splitlines()[-1]
    cupy = [r for r in reasons if r.startswith("the cupy backend")]
    import nnkit as nk

    if "cupy" not in nk.available_backends() and os.environ.get("NNKIT_SIMULATED_GPU") != "1":
        assert len(cupy) == 1 and "simulated GPU" in cupy[0]
