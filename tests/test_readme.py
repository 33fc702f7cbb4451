"""The README's and the docs site's code runs as written: every Python block in a fresh
interpreter, every shell command that takes under a minute here, and every other command accounted
for by what runs it. The README is a front door into the site, and every link resolves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Every page a user reads: the README, the docs site's sources, the spaces folder's index.
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "spaces" / "README.md"]

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
    'pip install -e ".[docs]"': ".ci/run (it installs the dev and docs extras)",
    "mkdocs build --strict": "test_the_docs_site_builds_strictly, and .ci/run",
    'pip install -e ".[docs]" && mkdocs serve': "serves the site until stopped: "
    "test_the_docs_site_builds_strictly builds the same site, and .ci/run builds it in CI",
    "t2tsearch validate spaces/": "tests/test_space.py: test_shipped_space_validates (every shipped space) and "
    "test_validate_command_prints_the_summary",
    "t2tsearch sample spaces/": "tests/test_space.py::test_sample_command_table_and_json",
    "t2tsearch run spaces/deep_narrow.yaml --address auto": "needs a Ray cluster of several "
    "machines; tests/test_cluster.py runs a search on a 2-node cluster",
    "python3 benchmarks/": "benchmarks take minutes to hours: "
    "test_every_benchmark_command_names_its_script_and_real_options checks each one's script "
    "and options, and tests/test_bench_search.py runs bench_search in small",
    "bash benchmarks/": "a GPU check (gpu_smoke.sh) or an hour's venv build (oldest_versions.sh): "
    "test_every_benchmark_command_names_its_script_and_real_options checks the script is there",
}

# Fast commands, run here (they only read the tree).
RUN_HERE = ("ruff check",)


def _where(page: Path, line: int) -> str:
    return f"{page.relative_to(ROOT)} line {line}"


def _blocks(lang: set[str]) -> list[tuple[str, str]]:
    """(page and line, text) of every fenced block, on every page, whose info string is in
    `lang`."""
    blocks = []
    for page in PAGES:
        current, start, info = None, 0, ""
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            if line.startswith("```"):
                if current is None:
                    current, start, info = [], number, line[3:].strip()
                else:
                    if info in lang:
                        blocks.append((_where(page, start), "\n".join(current)))
                    current = None
            elif current is not None:
                current.append(line)
        assert current is None, f"{_where(page, start)}: this block is never closed"
    return blocks


def _shell_commands() -> list[tuple[str, str]]:
    commands = []
    for where, text in _blocks({"bash", "sh", ""}):
        joined = re.sub(r"\\\n\s*", " ", text)  # continuation lines
        for line in joined.splitlines():
            command = line.split(" #")[0].strip()
            if command and not command.startswith("#"):
                commands.append((where, command))
    return commands


def test_the_pages_have_python_and_shell_blocks():
    # The parser below must see what the pages hold, or the other tests prove nothing.
    pythons = [where for where, _ in _blocks({"python"})]
    assert len(pythons) >= 3 and any(w.startswith("docs/") for w in pythons), pythons
    assert len(_shell_commands()) >= 20


@pytest.mark.parametrize("where,code", _blocks({"python"}), ids=lambda v: str(v)[:24])
def test_python_block_runs_in_a_fresh_interpreter(where, code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{where}:\n{done.stderr[-2000:]}"


def test_every_shell_command_is_accounted_for():
    for where, command in _shell_commands():
        known = command.startswith(RUN_HERE) or any(
            command.startswith(prefix) for prefix in RUN_ELSEWHERE)
        assert known, f"{where}: `{command}` is neither run here nor listed"


def test_every_tool_the_pages_name_has_an_extra_that_installs_it():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    text = "\n".join(page.read_text() for page in PAGES)
    named = set(re.findall(r'pip install -e "\.\[(\w+)\]"', text))
    assert named <= set(extras), named - set(extras)
    for tool in ("optuna-dashboard", "playwright", "mkdocs"):
        if tool in text:
            assert any(req.startswith(tool) for extra in named for req in extras[extra]), tool


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is a dev extra")
def test_fast_shell_commands_run():
    fast = [(where, c) for where, c in _shell_commands() if c.startswith(RUN_HERE)]
    assert fast
    for where, command in fast:
        done = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{where}: `{command}`\n{done.stdout[-2000:]}"


# A benchmark command, in a block or inline in the prose: its script, then its words.
BENCHMARK = re.compile(r"(?:python3|bash) (benchmarks/[\w/]+\.(?:py|sh))(.*)", re.S)


def _benchmark_commands() -> dict[str, set[str]]:
    """Every benchmark script the pages run, with the options their commands give it."""
    text = "\n".join(page.read_text() for page in PAGES)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
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
        assert path.is_file(), f"the docs run {script}, which does not exist"
        if path.suffix != ".py":
            continue
        done = subprocess.run([sys.executable, str(path), "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{script} --help: {done.stderr[-1000:]}"
        unknown = sorted(option for option in options
                         if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", done.stdout))
        assert not unknown, f"the docs give {script} options its --help lacks: {unknown}"


# A Markdown link or image: [text](target) or ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_every_link_in_the_pages_points_inside_the_repository():
    # The repository stands alone: a relative link names a file that is here (and, within the
    # docs site, a page mkdocs builds); web links go only to the paper and install sources.
    checked = 0
    for page in PAGES:
        prose = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
        for target in LINK.findall(prose):
            if target.startswith(("https://", "http://")):
                continue
            path = target.split("#")[0]
            if path:
                assert (page.parent / path).resolve().is_file(), f"{page.name}: {target}"
            checked += 1
    assert checked >= 20, checked  # the parser must see the links, or this proves nothing


def test_the_readme_is_a_front_door_into_every_page_of_the_site():
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: the reference belongs in docs/"
    linked = {Path(target.split("#")[0]).name for target in LINK.findall(README.read_text())
              if target.startswith("docs/")}
    pages = {page.name for page in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"pages the README never links: {sorted(pages - linked)}"


def test_the_docs_site_builds_strictly(tmp_path):
    # What .ci/run does: a broken link or anchor, a page left out of the navigation, or a
    # docstring mkdocstrings cannot render is an error.
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("ArchConfig", "build_model", "count_cost", "load_space", "load_trials",
                 "pareto_front", "hypervolume", "matched_difference"):
        assert f"{name}" in api, name


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


def _resolves(dotted: str) -> bool:
    """Whether `t2tsearch.a.b.c` names a module, or an attribute of the longest module prefix."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def in_a_clone(path: str) -> bool:
    """Whether a clone of the repository has this file: it is here, and git tracks it (where
    this is a git checkout)."""
    if not (ROOT / path).is_file():
        return False
    if not (ROOT / ".git").exists():
        return True
    listed = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=ROOT,
                            capture_output=True, text=True)
    return listed.returncode == 0


def test_every_module_and_name_the_pages_mention_exists():
    # The pages name code by its path (`t2tsearch/engine/worker_loss.py`) and by its dotted
    # name (`t2tsearch.results.load_confirmations`); a module that moves must take its mentions
    # along. Names are read from code spans and code blocks alike.
    paths, names = set(), set()
    for page in PAGES:
        text = page.read_text()
        paths |= {(page.name, p) for p in re.findall(r"\bt2tsearch/[\w/]+\.py\b", text)}
        names |= {(page.name, n) for n in re.findall(r"\bt2tsearch(?:\.[A-Za-z_]\w*)+", text)}
    assert len(paths) >= 5 and len(names) >= 10, (len(paths), len(names))
    missing = sorted(f"{page}: {path}" for page, path in paths if not in_a_clone(path))
    missing += sorted(f"{page}: {name}" for page, name in names if not _resolves(name))
    assert not missing, missing


# A file outside the package in inline code: `benchmarks/tabular/bench_search_fashion.json`
# (the package's modules: the test above).
REPO_PATH = re.compile(r"`((?:benchmarks|spaces|docs|tests|\.ci)/[\w./-]+\.\w+)`")
PLACEHOLDER_PATHS = {"tests/test_X.py"}  # a pattern the docs explain, not a file


def test_every_file_the_pages_name_is_in_the_repository():
    # The figures' sources (benchmark JSON, plots, tables) are named in inline code, not linked:
    # each must be a file that a clone gets (a result left uncommitted passed every other check
    # here once).
    named = {path for page in PAGES for path in REPO_PATH.findall(page.read_text())}
    named -= PLACEHOLDER_PATHS
    assert len(named) >= 30, sorted(named)  # the pattern must see them, or this proves nothing
    missing = sorted(path for path in named if not in_a_clone(path))
    assert not missing, f"files the pages name that a clone would not have: {missing}"
