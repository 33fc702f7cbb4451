"""A run's report page: its figures and sections assembled and written (`t2tsearch report`)."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from t2tsearch.arch import ArchConfig
from t2tsearch.atomic import atomic_write
from t2tsearch.datasets import DATASETS
from t2tsearch.fidelity import BudgetFidelity, not_measured_sentence, run_fidelity
from t2tsearch.groups import PLANE, GroupComparison, MatchedDifference
from t2tsearch.pareto import box_volume, hypervolume
from t2tsearch.report.assets import export_pngs, write_plotly_js
from t2tsearch.report.comparison import group_comparison, run_scale
from t2tsearch.report.figures import (
    plot_accuracy_by_parameter,
    plot_fidelity,
    plot_front,
    plot_group_fronts,
    plot_hypervolume,
    plot_importance,
)
from t2tsearch.report.importance import Importances, param_importances
from t2tsearch.report.page import Section, figure_html, page_html, table_html
from t2tsearch.report.text import (
    describe_reference,
    describe_validation,
    epochs_text,
    short_count,
)
from t2tsearch.results.reference import reference_planes
from t2tsearch.results.run import Run, read_run
from t2tsearch.results.tables import describe_counts, status_counts


def build_report(run_path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 *, images: bool = True, echo: Callable[[str], None] | None = None) -> Path:
    """Write the run's report.html (and plotly.min.js beside it, PNGs when a Chrome exists).

    Everything is computed before anything is written, and the page is written atomically, so
    bad input leaves no half-written file behind.
    """
    data = read_run(run_path)
    comparison = group_comparison(data)
    fidelities = run_fidelity(data, run_scale(data))
    target = Path(out) if out is not None else data.run.path / "report.html"
    importances = param_importances(data.study, data.specs)
    figures = run_figures(data, comparison, importances, fidelities)
    page = render_run_page(data, comparison, figures, importances.notes, fidelities)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_plotly_js(target.parent)
    atomic_write(target, page, prefix=".report-")
    if images:
        main = {name: fig for name, fig in figures.items() if name in PNG_FIGURES}
        notice = export_pngs(main, target.parent)
        if notice and echo:
            echo(notice)
    return target


PNG_FIGURES = ("front_macs", "front_params", "hypervolume_trials", "groups")


def run_figures(data: Run, comparison: GroupComparison | None, importances: Importances,
                fidelities: Sequence[BudgetFidelity] = ()) -> dict[str, go.Figure]:
    table = data.table
    figures: dict[str, go.Figure] = {}
    run_plane = [s.column for s in data.specs]
    for cost in ("macs", "params"):
        # The run's own front when it was searched in exactly this plane.
        front = data.front if run_plane == ["accuracy", cost] else None
        figures[f"front_{cost}"] = plot_front(table, cost, front)
    for x in ("trials", "seconds"):
        figures[f"hypervolume_{x}"] = plot_hypervolume({data.name: data.search_table}, data.specs,
                                                       data.reference, x)
    if comparison is not None:
        figures["groups"] = plot_group_fronts(table, list(data.space.groups))
    if importances.values:
        figures["importance"] = plot_importance(importances.values, importances.evaluator)
    if data.params:
        figures["by_parameter"] = plot_accuracy_by_parameter(table, data.params)
    if fidelities:
        figures["fidelity"] = plot_fidelity(fidelities)
    return figures


def render_run_page(data: Run, comparison: GroupComparison | None,
                    figures: Mapping[str, go.Figure], notes: Sequence[str] = (),
                    fidelities: Sequence[BudgetFidelity] = ()) -> str:
    space = data.space
    sections: list[Section] = []
    # Counted as the run's summary and progress lines count them, from the search's own table.
    summary = describe_counts(status_counts(data.search_table), data.search_table)
    reference = data.reference
    hv = hypervolume(data.search_table, data.specs, reference) / box_volume(data.specs, reference)
    objectives = ", ".join(f"{o.direction} {o.metric}" for o in space.objectives)
    intro = (f"<p>{len(data.search_table)} proposals: {html.escape(summary)}. "
             f"Objectives: {objectives}. "
             f"The Pareto front holds {len(data.front)} full-budget architecture"
             f"{'s' if len(data.front) != 1 else ''}; normalised hypervolume {hv:.4f}.</p>")
    if data.confirm_seeds > 1:
        intro += (f"<p>Front confirmed on up to {data.confirm_seeds} seeds: accuracies of "
                  f"confirmed architectures are means over seeds, error bars one standard "
                  f"deviation.")
        if data.unconfirmed:
            intro += (f" {data.unconfirmed} front architecture(s) have one seed only (the front "
                      f"moved): run <code>t2tsearch confirm</code> again to confirm them.")
        intro += "</p>"
    fidelity_line = _fidelity_line(data, fidelities)
    if comparison is None:
        intro += fidelity_line
    sections.append(Section("Summary", intro))
    if comparison is not None:
        sections.append(Section("Verdict", _verdict_html(comparison) + fidelity_line
                                + figure_html(figures["groups"], "groups")
                                + _group_table(comparison)))
    sections.append(Section("Proxy fidelity", _fidelity_html(data, fidelities, figures)))
    info = DATASETS.get(space.train.dataset)
    if info is not None and info.has_test_set:
        sections.append(Section("Test accuracy", _test_html(data)))
    sections.append(Section("Pareto front", figure_html(figures["front_macs"], "front_macs")
                            + _front_table(data) + figure_html(figures["front_params"],
                                                           "front_params")))
    sections.append(Section("Search progress", figure_html(figures["hypervolume_trials"],
                                                       "hypervolume_trials")
                            + figure_html(figures["hypervolume_seconds"], "hypervolume_seconds")
                            + f"<p class='note' id='reference'>"
                              f"{html.escape(reference_sentence(data))}</p>"))
    parts = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
    if figures.get("importance") is not None:
        parts += figure_html(figures["importance"], "importance")
    if "by_parameter" in figures:
        parts += figure_html(figures["by_parameter"], "by_parameter")
    sections.append(Section("Parameters", parts))
    sections.append(Section("Settings and versions", _settings_html(data)))
    title = f"t2tsearch report: {data.name}"
    banner = ""
    if data.partial:
        banner = (f"<div class='partial' id='partial'>Partial run: {html.escape(data.partial)}. "
                  f"This report shows the trials finished so far.</div>")
    subtitle = (f"space <b>{html.escape(space.name)}</b>: {html.escape(space.description)}"
                f"<br>run folder {html.escape(str(data.run.path.resolve()))}")
    return page_html(title, subtitle, banner, sections)


def _verdict_html(comparison: GroupComparison) -> str:
    text = f"<p class='verdict' id='verdict'>{html.escape(comparison.verdict)}</p>"
    if comparison.caution:
        text += f"<p class='caution'>{html.escape(comparison.caution)}</p>"
    return text


def reference_sentence(data: Run) -> str:
    """Where the run's reference point comes from, and its values, in one sentence."""
    planes = reference_planes(data.specs)
    return f"{data.reference_note}: {describe_reference(data.reference, planes)}."


def _fidelity_line(data: Run, fidelities: Sequence[BudgetFidelity]) -> str:
    """The sentence beside the verdict: the measured fidelity, or the command that measures it."""
    if fidelities:
        text = "; ".join(f.sentence() for f in fidelities)
        return f"<p class='fidelity' id='fidelity'>{html.escape(text)}.</p>"
    sentence = html.escape(not_measured_sentence(data.run.path, data.space))
    # The command in backticks becomes code on the page.
    head, command, _ = sentence.split("`")
    return f"<p class='fidelity' id='fidelity'>{head}<code>{command}</code>.</p>"


def _fidelity_html(data: Run, fidelities: Sequence[BudgetFidelity],
                   figures: Mapping[str, go.Figure]) -> str:
    proxy = data.space.train.epochs
    explain = (f"<p class='note'>The search ranks architectures after {epochs_text(proxy)}. "
               f"<code>t2tsearch confirm RUN --epochs N</code> trains the front and a seeded "
               f"control sample of other architectures (drawn from every group) for N epochs; "
               f"each row below compares the same architectures at both budgets: Kendall's tau "
               f"of their accuracies (1: same order, 0: unrelated), how many of those "
               f"non-dominated at the proxy (accuracy against MACs) stay so, and each pair of "
               f"groups compared on these architectures at both budgets (holds: same winner; "
               f"flips: opposite winners; undecided: either budget cannot tell). The verdict "
               f"above stays on the search's own budget.</p>")
    if not fidelities:
        return _fidelity_line(data, fidelities) + explain
    head = ["budget", "architectures", "Kendall tau (p)", "proxy front still non-dominated",
            "group verdict at this budget", "proxy → longer"]
    rows = []
    for f in fidelities:
        roles = f.accuracies["role"].value_counts()
        who = (f"{f.architectures} ({roles.get('front', 0)} front, "
               f"{roles.get('control', 0)} controls)")
        if f.failed:
            who += f"; {f.failed} training(s) failed"
        tau = "-" if f.tau is None else f"{f.tau:.2f} (p = {f.p_value:.2g})"
        verdicts = "; ".join(_short_difference(p.longer) for p in f.pairs) or "no groups"
        statuses = "; ".join(p.describe() for p in f.pairs) or "-"
        rows.append([f"{epochs_text(f.epochs)} ({f.epochs / proxy:g}x the proxy)", who, tau,
                     f"{f.front_kept} of {f.proxy_front}", verdicts, statuses])
    body = table_html(head, rows, "fidelity-table") + explain
    for f in fidelities:
        if f.comparison is not None:
            body += (f"<p class='note'>At {epochs_text(f.epochs)}, on these {f.architectures} "
                     f"architectures: {html.escape(f.comparison.verdict)}</p>")
    return body + figure_html(figures.get("fidelity"), "fidelity")


def _test_html(data: Run) -> str:
    """What confirm's re-trained architectures score on the test set, beside the validation
    accuracy the search ranked them by; each column says which images it is."""
    train = data.space.train
    if train.val_size is None:
        return (f"<p class='note'>This run's validation set is the test set "
                f"({html.escape(describe_validation(train))}): it has no held-out test "
                f"accuracy.</p>")
    explain = (f"<p class='note'>Validation accuracy: on the {train.val_size:,} training images "
               f"held out by split seed {train.data_seed}, what the search ranked by. Test "
               f"accuracy: on the dataset's own test images, which the search never saw, "
               f"measured by <code>t2tsearch confirm</code> on each architecture it "
               f"re-trained; both are means over the seeds re-trained at that budget (the "
               f"search's own training has no test accuracy).</p>")
    results = data.test_results
    if results.empty:
        command = html.escape(not_measured_sentence(data.run.path, data.space).split("`")[1])
        return (f"<p class='note' id='test-accuracy'>Not measured yet: <code>{command}</code> "
                f"re-trains the front and a control sample and measures them on the test "
                f"images.</p>") + explain
    head = ["budget", "id", "role", "seeds", "validation accuracy (%)",
            "test accuracy (%)", "test minus validation"]
    rows = [[epochs_text(int(row["epochs"])), row["config_id"], row["role"], int(row["seeds"]),
             f"{row['val_accuracy']:.2f}", f"{row['test_accuracy']:.2f}",
             f"{row['test_accuracy'] - row['val_accuracy']:+.2f}"]
            for _, row in results.iterrows()]
    return table_html(head, rows, "test-table", sortable=True) + explain


def _short_difference(diff: MatchedDifference) -> str:
    if diff.difference is None:
        return f"{diff.first} vs {diff.second}: undecided"
    shown = (f"{diff.first} minus {diff.second} {diff.difference:+.1f} points "
             f"(95% CI {diff.ci_low:+.1f} to {diff.ci_high:+.1f})")
    if diff.decided:
        return shown + f", {diff.winner} ahead"
    if diff.equivalent:
        return shown + f", equivalent within +-{diff.margin:g}"
    return shown + ", undecided"


def _group_table(comparison: GroupComparison) -> str:
    head = ["group", "trials", "full-budget architectures", "MAC range", "best accuracy (%)",
            "hypervolume (common reference)", "own front", "points on the joint front"]
    box = box_volume(PLANE, comparison.reference)
    rows = []
    for g in comparison.groups:
        span = ("-" if g.macs_range is None
                else f"{short_count(g.macs_range[0])}-{short_count(g.macs_range[1])}")
        best = "-" if g.best_accuracy is None else f"{g.best_accuracy:.2f}"
        rows.append([g.name, g.trials, g.full_budget, span, best, f"{g.hypervolume / box:.4f}",
                     g.front_size, f"{g.joint_front_points} of {comparison.joint_front_size}"])
    lines = []
    for diff in comparison.differences:
        if diff.difference is None:
            lines.append(f"{diff.first} vs {diff.second}: undecided, {diff.undecided_because}")
        else:
            equivalence = (f"equivalent within +-{diff.margin:g}" if diff.equivalent
                           else f"not shown equivalent within +-{diff.margin:g}")
            detectable = ("" if diff.detectable is None else
                          f"; detectable at 80% power: {diff.detectable:.2f} points (scatter "
                          f"{diff.scatter:.2f} around the lines)")
            lines.append(f"{diff.first} minus {diff.second} at matched MACs, from the "
                         f"{diff.counts[0]} and {diff.counts[1]} architectures in "
                         f"{short_count(diff.macs_low)}-{short_count(diff.macs_high)} (read at "
                         f"{short_count(diff.compared_at)}): {diff.difference:+.2f} points, "
                         f"bootstrap 95% CI {diff.ci_low:+.2f} to {diff.ci_high:+.2f}"
                         + (f" (undecided: {diff.undecided_because})" if not diff.decided else "")
                         + f"; 90% CI {diff.tost_low:+.2f} to {diff.tost_high:+.2f}, "
                         f"{equivalence}{detectable}")
    notes = "".join(f"<p class='note'>{html.escape(line)}</p>" for line in lines)
    return table_html(head, rows, "groups-table") + notes


def _front_table(data: Run) -> str:
    confirmed = data.confirm_seeds > 1
    head = ["trial", "id", "accuracy (%)"]
    if confirmed:
        head += ["± sd", "seeds", "min-max"]
    head += ["MACs", "params", "latency (ms)", "epochs", "groups", "architecture"]
    rows = []
    for _, row in data.front.iterrows():
        cells: list[Any] = [int(row["trial"]), row["config_id"], f"{row['accuracy']:.2f}"]
        if confirmed:
            several = row["seeds"] > 1
            cells += [f"{row['accuracy_std']:.2f}" if several else "", int(row["seeds"]),
                      f"{row['accuracy_min']:.1f}-{row['accuracy_max']:.1f}" if several else ""]
        latency = row.get("latency_ms")
        cells += [int(row["macs"]), int(row["params"]),
                  f"{latency:.2f}" if pd.notna(latency) else "", int(row["epochs"]),
                  row["groups"] if isinstance(row["groups"], str) else "",
                  ArchConfig.from_json(row["arch"]).short()]
        rows.append(cells)
    note = ("<p class='note'>Click a column header to sort. Export an architecture with "
            "<code>t2tsearch export RUN --trial N --out arch.yaml</code>.</p>")
    return table_html(head, rows, "front-table", sortable=True) + note


def _settings_html(data: Run) -> str:
    space, meta = data.space, data.meta
    s, t = space.search, space.train
    settings = [
        ("space", f"{space.name} ({data.run.space_file})"),
        ("objectives", ", ".join(f"{o.direction} {o.metric}" for o in space.objectives)),
        ("parameters", "; ".join(f"{p}: {param.describe()}" for p, param in
                                 space.parameters.items())),
        ("constraints", space.constraints.describe()),
        ("groups", "; ".join(f"{n}: {c}" for n, c in space.groups.items()) or "none"),
        ("search", f"{s.sampler} sampler, {s.trials} trials, seed {s.seed}, concurrency "
                   f"{s.concurrency}, {s.cpus_per_trial:g} cpu + {s.gpus_per_trial:g} gpu per "
                   f"trial, scheduler {s.effective_scheduler} (grace {s.grace_period}, factor "
                   f"{s.reduction_factor:g})"),
        ("train budget", ", ".join(f"{k} {v}" for k, v in t.model_dump(mode="json").items()
                                   if v is not None)),
        ("trained on", _devices(data.search_table)),
        ("split seed", f"{t.split_seed}: every seed is measured on the same validation images"
         if t.split_seed is not None else
         f"follows train.seed (run made before split_seed existed): the search's trials used "
         f"split {t.seed}; confirmations are pinned to it"),
        ("validation", describe_validation(t)),
    ]
    for index, session in enumerate(meta.get("sessions") or [], start=1):
        settings.append((f"session {index}", f"{session.get('start', '?')} to "
                                              f"{session.get('end', '(not ended)')}: "
                                              f"{' '.join(session.get('command', []))}"))
    for index, session in enumerate(meta.get("confirm_sessions") or [], start=1):
        settings.append((f"confirm {index}", f"{session.get('start', '?')} to "
                                             f"{session.get('end', '(not ended)')}: "
                                             f"{session.get('seeds')} seeds, "
                                             f"{session.get('epochs', data.space.train.epochs)}"
                                             f" epochs, {session.get('controls', 0)} controls, "
                                             f"{session.get('jobs')} trainings"))
    versions = [(k, meta[k]) for k in ("t2tsearch", "python", "torch", "timm", "optuna", "ray",
                                       "cuda", "host", "platform", "seed") if k in meta]
    versions.append(("plotly", _plotly_version()))
    if meta.get("command"):
        versions.append(("command", " ".join(meta["command"])))
    body = table_html(["setting", "value"], settings, "settings-table")
    body += "<h3>Versions</h3>" + table_html(["package", "version"], versions, "versions-table")
    body += ("<details><summary>space.yaml as run</summary><pre>"
             + html.escape(data.run.space_file.read_text()) + "</pre></details>")
    return body


def _devices(table: pd.DataFrame) -> str:
    """The devices that trained the search's trials, each with its count of trials."""
    if "device" not in table.columns or table["device"].isna().all():
        return "not recorded (a table's answers, or a run from before devices were recorded)"
    counts = table["device"].dropna().value_counts()
    return "; ".join(f"{device}: {count} trial{'s' if count != 1 else ''}"
                     for device, count in counts.items())


def _plotly_version() -> str:
    import plotly

    return plotly.__version__
