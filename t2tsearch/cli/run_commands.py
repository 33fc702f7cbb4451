"""The commands on runs: `run` (a search), `report`, `compare`, `export` and `confirm`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from t2tsearch.cli.app import app, use_threads
from t2tsearch.errors import UserError

if TYPE_CHECKING:
    from t2tsearch.results.run import Run


@app.command()
def run(
    space: Annotated[str | None, typer.Argument(help="Search space YAML (omit with --resume).")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: SPACE-NAME-DATE-TIME).")] = None,
    out: Annotated[str, typer.Option(help="Folder that holds runs.")] = "results",
    resume: Annotated[str | None, typer.Option(help="Go on with the run in this folder.")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials to train (overrides search.trials).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Trials at once.")] = None,
    cpus_per_trial: Annotated[float | None, typer.Option(help="CPUs per trial.")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial, may be fractional.")] = None,
    sampler: Annotated[str | None, typer.Option(help="ehvi, nsga2, tpe, gp, random or grid.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="pareto_asha, asha or none (default auto: none under ehvi, else pareto_asha).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampler seed.")] = None,
    goal: Annotated[str | None, typer.Option(help="compare_groups or front (default auto: compare_groups when the space has groups).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to attach to (ray://... or host:port).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray Tune's own tables and logs.")] = False,
    evaluator: Annotated[str | None, typer.Option(help="What answers a trial: 'train' (proxy training, the default) or "
                                                "'table:FILE' (a tabular benchmark's results); on --resume, the run's own.")] = None,
) -> None:
    """Search a space: Optuna proposes, Ray Tune trains, the run directory records everything."""
    from t2tsearch.engine.search import SearchOptions, run_search

    if space is not None and resume is not None:
        raise UserError("run: give either a space file or --resume RUN_DIR, not both")
    options = SearchOptions(trials=trials, concurrency=concurrency, cpus_per_trial=cpus_per_trial,
                            gpus_per_trial=gpus_per_trial, sampler=sampler, scheduler=scheduler,
                            seed=seed, goal=goal, address=address, verbose=verbose, evaluator=evaluator,
                            command=["t2tsearch", *sys.argv[1:]], echo=typer.echo)
    summary = run_search(space, out=out, name=name, resume=resume, options=options)
    if summary.note:
        typer.echo(summary.note)
    from t2tsearch.results.tables import describe_counts

    table = summary.table
    typer.echo(f"\n{len(table)} proposals: {describe_counts(summary.counts, table)}")
    if summary.group_counts:
        typer.echo(f"full-budget architectures per group (quota {summary.quota} each): "
                   + ", ".join(f"{g} {n}" for g, n in summary.group_counts.items()))
    if summary.front.empty:
        typer.echo("no full-budget trial yet: no Pareto front")
    else:
        typer.echo(f"Pareto front ({len(summary.front)} architectures, full-budget trials only):")
        typer.echo(format_front(summary.front))
    typer.echo(f"\ntrials table: {summary.run.trials_csv}")
    if summary.interrupted or summary.unstarted:
        typer.echo(f"interrupted with {summary.interrupted} trial(s) in flight and "
                   f"{summary.unstarted} not started; go on with: "
                   f"t2tsearch run --resume {summary.run.path}", err=True)
        raise typer.Exit(130)
    for line in next_commands(summary.run.path):
        typer.echo(line)
    if summary.failed:
        # 64 + N: a script can tell "N trials failed" apart from a user error (2). N is the
        # run's (any session's), the count the summary prints; interrupted trials are not in it.
        typer.echo(f"{summary.failed} trial(s) failed (diverged, out of memory, raised or lost "
                   f"their worker past search.max_retries); see the reason column of the trials "
                   f"table", err=True)
        raise typer.Exit(64 + min(summary.failed, 63))


def next_commands(run_path: str | Path) -> list[str]:
    """What to run after a finished search: the report, and for a trained run of a space with
    groups the confirmation that measures whether the verdict holds at a longer budget (a run
    answered from a tabular benchmark has nothing to confirm: confirm refuses it)."""
    from t2tsearch.fidelity import confirm_command, suggested_epochs
    from t2tsearch.results.directory import RunDir
    from t2tsearch.space.load import load_space

    lines = [f"next: t2tsearch report {run_path}"]
    space = load_space(Path(run_path) / "space.yaml")
    if space.groups and RunDir(Path(run_path)).table_evaluator() is None:
        lines.append(f"      {confirm_command(run_path, space)}   (does the group verdict hold "
                     f"at {suggested_epochs(space)} epochs?)")
    return lines


def format_front(front) -> str:
    """The front as a plain-text table: trial, accuracy, MACs, params, architecture."""
    from t2tsearch.arch import ArchConfig

    lines = [f"  {'trial':>5} {'acc %':>6} {'MMACs':>9} {'params':>9}  architecture"]
    for _, row in front.iterrows():
        arch = ArchConfig.from_json(row["arch"]).short()
        lines.append(f"  {row['trial']:>5} {row['accuracy']:>6.1f} {row['macs'] / 1e6:>9.2f} "
                     f"{row['params'] / 1e6:>8.3f}M  {arch}")
    return "\n".join(lines)


# ---- reports ----
@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    out: Annotated[str | None, typer.Option(help="Page to write (default RUN/report.html).")] = None,
    images: Annotated[bool, typer.Option(
        help="Also write PNGs of the main plots (needs a Chrome/Chromium).")] = True,
) -> None:
    """Write a run's report: fronts, hypervolume, importance, group verdict, one offline page."""
    from t2tsearch.report.run_page import build_report

    path = build_report(run_dir, out, images=images, echo=typer.echo)
    typer.echo(f"report: {path}")


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(metavar="RUN RUN...", help="Two or more runs.")],
    out: Annotated[str, typer.Option(help="Page to write.")] = "compare.html",
) -> None:
    """Overlay several runs' fronts and hypervolume curves (common reference point) on one page."""
    from t2tsearch.report.compare import build_comparison

    typer.echo(f"comparison: {build_comparison(runs, out)}")


@app.command()
def export(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    out: Annotated[str, typer.Option(help="YAML file (--trial) or folder (--front).")],
    front: Annotated[bool, typer.Option("--front", help="Every front architecture, one file "
                                        "each, into the folder --out.")] = False,
    trial: Annotated[int | None, typer.Option(help="One trial's architecture.")] = None,
) -> None:
    """Write architectures from a run as YAML that cost, train and build_model accept."""
    from t2tsearch.export import export_front, export_trial

    if front == (trial is not None):
        raise UserError("export: give exactly one of --front or --trial N")
    if trial is not None:
        typer.echo(f"trial {trial}: {export_trial(run_dir, trial, out)}")
        return
    paths = export_front(run_dir, out)
    typer.echo(f"{len(paths)} front architectures written to {out}:")
    for path in paths:
        typer.echo(f"  {path}")


@app.command()
def confirm(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    seeds: Annotated[int | None, typer.Option(help="Seeds per architecture in all: with --seeds "
                                              "alone the search's own included (default 3); "
                                              "with --epochs at that budget (default 1).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Train the front and a control sample for "
                                               "this many epochs (more than the run's) to "
                                               "measure the proxy's fidelity.")] = None,
    controls: Annotated[int, typer.Option(help="Other architectures beside the front, drawn "
                                          "from every group (with --epochs; with --seeds "
                                          "when the space has groups).")] = 6,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Trainings at once.")] = None,
    cpus_per_trial: Annotated[float | None, typer.Option(
        help="CPUs per training (default: the run's search.cpus_per_trial).")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(
        help="GPUs per training, may be fractional (default: the run's "
             "search.gpus_per_trial).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to attach to.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray Tune's output.")] = False,
) -> None:
    """Re-train the front on more seeds (the report shows mean ± spread), or with --epochs N,
    with a control sample at a longer budget (the report measures the proxy's fidelity)."""
    from t2tsearch.engine.confirm import run_confirm
    from t2tsearch.results.run import read_run

    use_threads(None)  # the driver counts costs; its trainings set their own (cpus_per_trial)
    summary = run_confirm(run_dir, seeds, epochs=epochs, controls=controls,
                          concurrency=concurrency, address=address, echo=typer.echo,
                          verbose=verbose, cpus_per_trial=cpus_per_trial,
                          gpus_per_trial=gpus_per_trial)
    # Failed trainings are counted, not an error (the exit status stays 0, as with --seeds):
    # the next call trains them again.
    done = f"{summary.trained} trained, {summary.skipped} already done, {summary.failed} failed"
    data = read_run(summary.run.path)  # what the confirmations recorded, read once
    tested = data.test_results[data.test_results["epochs"] == summary.epochs]
    if epochs is not None:
        typer.echo(f"{done} at {epochs} epochs")
        _print_fidelity(data, epochs)
        if not tested.empty:
            typer.echo(f"  at {epochs} epochs, mean over the {len(tested)} re-trained "
                       f"architectures: val acc {tested['val_accuracy'].mean():.2f}% (the "
                       f"validation images the search measured on), test acc "
                       f"{tested['test_accuracy'].mean():.2f}% (the test set it never saw)")
        return
    explain = (" (val acc: the validation images the search measured on; test acc: the test set "
               "it never saw, mean over the re-trained seeds)" if not tested.empty else "")
    typer.echo(f"{done}; front after confirmation{explain}:")
    test_of = dict(zip(tested["config_id"], tested["test_accuracy"], strict=True))
    for _, row in summary.front.iterrows():
        spread = f" ± {row['accuracy_std']:.2f} ({int(row['seeds'])} seeds)" if row["seeds"] > 1 else ""
        test = (f" | test acc {test_of[row['config_id']]:6.2f}%"
                if row["config_id"] in test_of else "")
        typer.echo(f"  trial {row['trial']:>4} {row['config_id']} val acc "
                   f"{row['accuracy']:6.2f}%{spread}{test} | {row['macs'] / 1e6:.2f} MMACs")


def _print_fidelity(data: Run, epochs: int) -> None:
    """The proxy's fidelity at the budget just confirmed, in a few lines."""
    from t2tsearch.fidelity import run_fidelity

    run = data.run
    measured = [f for f in run_fidelity(data) if f.epochs == epochs]
    if not measured:
        typer.echo(f"no architecture completed at {epochs} epochs: fidelity not measured")
        return
    fidelity = measured[0]
    typer.echo(fidelity.sentence())
    typer.echo(f"  proxy front points still non-dominated at {epochs} epochs: "
               f"{fidelity.front_kept} of {fidelity.proxy_front}")
    for pair in fidelity.pairs:
        typer.echo(f"  {pair.describe()}")
    typer.echo(f"the report shows it: t2tsearch report {run.path}")
