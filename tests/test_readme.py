"""The README's code runs as written: every Python block in a fresh interpreter, every shell
command that takes under a minute here, and every other command accounted for by what runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Shell commands that take longer than a minute, or need what a test cannot have, and where each
# is exercised instead (keyed by the command's first words). A README command that is neither
# here nor fast enough to run below fails `test_every_shell_command_is_accounted_for`.
RUN_ELSEWHERE = {
    'pip install -e ".[dev]" && t2tsearch run spaces/smoke.yaml': "tests/test_smoke.py (the run); "
    ".ci/run (the install)",
    'pip install -e ".[dev]" && python3 -m pytest -q': ".ci/run, which is this command",
    'pip install -e ".[dev]"': ".ci/run",
    "pip install torch torchvision --index-url": "replaces the machine's torch with PyTorch's CPU "
    "build: never run by the tests; the CPU index is named in PyTorch's install instructions",
    "python3 -m pytest -q": ".ci/run",
    "t2tsearch run spaces/deep_narrow.yaml": "a search of half an hour; its space is validated in "
    "tests/test_space.py and the same flags are exercised in tests/test_search*.py",
    "ray start": "needs a Ray cluster of several machines",
    "t2tsearch report results/deep_narrow": "needs the half-hour run above; tests/test_report.py "
    "builds reports of runs made in the tests",
    "t2tsearch confirm results/deep_narrow": "an hour of training after the run above; "
    "tests/test_confirm.py confirms runs made in the tests, --epochs and --controls included",
    "sudo apt-get install dataset-fashion-mnist": "installs a system package: .ci/run does it "
    "(as root, without sudo); tests/test_data.py reads the files it installs",
    "python3 benchmarks/": "benchmarks take minutes to hours: "
    "test_every_benchmark_command_names_its_script_and_real_options checks each one's script "
    "and options, and tests/test_bench_search.py runs bench_search in small",
    "bash benchmarks/": "a GPU check (gpu_smoke.sh) or an hour's venv build (oldest_versions.sh): "
    "test_every_benchmark_command_names_its_script_and_real_options checks the script is there",
}

# Fast commands, run here (they only read the tree).
RUN_HERE = ("ruff check",)


def _blocks(lang: set[str]) -> list[tuple[int, str]]:
    """(line number, text) of every fenced block whose info string is in `lang`."""
    blocks, current, start, info = [], None, 0, ""
    for number, line in enumerate(README.read_text().splitlines(), start=1):
        if line.startswith("```"):
            if current is None:
                current, start, info = [], number, line[3:].strip()
            else:
                if info in lang:
                    blocks.append((start, "\n".join(current)))
                current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"README.md: the block opened at line {start} is never closed"
    return blocks


def _shell_commands() -> list[tuple[int, str]]:
    commands = []
    for start, text in _blocks({"bash", "sh", ""}):
        joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
        for line in joined.splitlines():
            command = line.split(" #")[0].strip()
            if command and not command.startswith("#"):
                commands.append((start, command))
    return commands


def test_readme_has_python_and_shell_blocks():
    # The parser below must see what the README holds, or the other tests prove nothing.
    assert _blocks({"python"}) and len(_shell_commands()) >= 8


@pytest.mark.parametrize("start,code", _blocks({"python"}), ids=lambda v: str(v)[:20])
def test_python_block_runs_in_a_fresh_interpreter(start, code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"README.md line {start}:\n{done.stderr[-2000:]}"


def test_every_shell_command_is_accounted_for():
    for start, command in _shell_commands():
        known = command.startswith(RUN_HERE) or any(
            command.startswith(prefix) for prefix in RUN_ELSEWHERE)
        assert known, f"README.md line {start}: `{command}` is neither run here nor listed"


def test_every_tool_the_readme_names_has_an_extra_that_installs_it():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    text = README.read_text()
    named = set(re.findall(r'pip install -e "\.\[(\w+)\]"', text))
    assert named <= set(extras), named - set(extras)
    for tool in ("optuna-dashboard", "playwright"):
        if tool in text:
            assert any(req.startswith(tool) for extra in named for req in extras[extra]), tool


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a dev extra")
def test_fast_shell_commands_run():
    fast = [(start, c) for start, c in _shell_commands() if c.startswith(RUN_HERE)]
    assert fast
    for start, command in fast:
        done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"README.md line {start}: `{command}`\n{done.stdout[-2000:]}"


# A benchmark command, in a block or inline in the prose: its script, then its words.
BENCHMARK = re.compile(r"(?:python3|bash) (benchmarks/[\w/]+\.(?:py|sh))(.*)", re.S)


def _benchmark_commands() -> dict[str, set[str]]:
    """Every benchmark script the README runs, with the options its commands give it."""
    prose = re.sub(r"^```.*?^```", "", README.read_text(), flags=re.M | re.S)
    spans = [span for span in re.findall(r"`([^`]+)`", prose) if "benchmarks/" in span]
    spans += [command for _, command in _shell_commands() if "benchmarks/" in command]
    found: dict[str, set[str]] = {}
    for span in spans:
        for command in re.split(r"(?=(?:python3|bash) benchmarks/)", span):
            if (match := BENCHMARK.match(command)) is not None:
                options = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", match.group(2))
                found.setdefault(match.group(1), set()).update(options)
    return found


def test_every_benchmark_command_names_its_script_and_real_options():
    commands = _benchmark_commands()
    assert len(commands) >= 8, commands  # the parser must see them, or this proves nothing
    for script, options in sorted(commands.items()):
        path = ROOT / script
        assert path.is_file(), f"README.md runs {script}, which does not exist"
        if path.suffix != ".py":
            continue
        done = subprocess.run([sys.executable, str(path), "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{script} --help: {done.stderr[-1000:]}"
        unknown = sorted(option for option in options
                         if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", done.stdout))
        assert not unknown, f"README.md gives {script} options its --help lacks: {unknown}"


@pytest.mark.parametrize("first,second", [("timm", "t2tsearch"), ("t2tsearch", "timm")])
def test_import_t2tsearch_registers_presets_in_either_order(first, second):
    code = (f"import {first}, {second}, sys\n"
            "m = timm.create_model('t2t_vit_7', num_classes=10, img_size=32, in_chans=1)\n"
            "assert type(m).__name__ == 'T2TViT', type(m)\n"
            "assert timm.is_model('t2t_vit_14') and timm.is_model('t2t_vit_24')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_import_t2tsearch_alone_pulls_neither_torch_nor_timm():
    code = "import t2tsearch, sys; print('torch' in sys.modules, 'timm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr
