"""The comparison page: several runs' fronts and hypervolume curves on a common reference point."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

from t2tsearch.atomic import atomic_write
from t2tsearch.groups import PLANE
from t2tsearch.pareto import box_volume, common_reference, full_budget, hypervolume, pareto_front
from t2tsearch.report.assets import write_plotly_js
from t2tsearch.report.comparison import ReportError
from t2tsearch.report.figures import plot_compare_fronts, plot_hypervolume
from t2tsearch.report.page import Section, figure_html, page_html, table_html
from t2tsearch.report.text import describe_reference
from t2tsearch.results.run import read_run


def build_comparison(run_paths: Sequence[str | os.PathLike[str]],
                     out: str | os.PathLike[str]) -> Path:
    """One page overlaying several runs' fronts and hypervolume curves on a common reference."""
    if len(run_paths) < 2:
        raise ReportError("compare: give at least two runs")
    runs = [read_run(path) for path in run_paths]
    names = _unique_names([r.name for r in runs])
    tables = {name: r.table for name, r in zip(names, runs, strict=True)}
    searched = {name: r.search_table for name, r in zip(names, runs, strict=True)}
    # Runs may optimise different things; they all share accuracy and MACs.
    # One reference from the runs' own (each chosen when its run started): the lowest accuracy
    # and the largest MACs, so every run's box fits inside it.
    reference = common_reference([r.reference for r in runs], PLANE)
    box = box_volume(PLANE, reference)
    figures = {"fronts": plot_compare_fronts(tables),
               "hypervolume_trials": plot_hypervolume(searched, PLANE, reference, "trials"),
               "hypervolume_seconds": plot_hypervolume(searched, PLANE, reference, "seconds")}
    head = ["run", "space", "sampler", "scheduler", "trials", "full-budget", "front (acc-MACs)",
            "best accuracy (%)", "hypervolume", "train budget", "status"]
    rows = []
    for name, data in zip(names, runs, strict=True):
        done = full_budget(data.table, PLANE)
        s, t = data.space.search, data.space.train
        rows.append([name, data.space.name, s.sampler, s.effective_scheduler, len(data.table),
                     len(done), len(pareto_front(done, PLANE)), f"{done['accuracy'].max():.2f}",
                     f"{hypervolume(data.search_table, PLANE, reference) / box:.4f}",
                     f"{t.dataset} {t.img_size}px {t.epochs} epochs",
                     f"partial: {data.partial}" if data.partial else "finished"])
    ref_text = (f"{describe_reference(reference, PLANE)} (the lowest accuracy and the largest "
                f"MACs of the runs' own reference points)")
    sections = [
        Section("Runs", table_html(head, rows, "runs-table", sortable=True)
                + f"<p class='note'>Common reference point: {ref_text}.</p>"),
        Section("Fronts", figure_html(figures["fronts"], "fronts")),
        Section("Hypervolume", figure_html(figures["hypervolume_trials"], "hypervolume_trials")
                + figure_html(figures["hypervolume_seconds"], "hypervolume_seconds")),
    ]
    partial = [n for n, r in zip(names, runs, strict=True) if r.partial]
    banner = ""
    if partial:
        banner = (f"<div class='partial' id='partial'>Partial runs: "
                  f"{html.escape(', '.join(partial))} are not finished.</div>")
    paths = "<br>".join(html.escape(str(r.run.path.resolve())) for r in runs)
    page = page_html("t2tsearch comparison: " + " vs ".join(names), paths, banner, sections)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_plotly_js(target.parent)
    atomic_write(target, page, prefix=".report-")
    return target


def _unique_names(names: Sequence[str]) -> list[str]:
    out = []
    for index, name in enumerate(names):
        out.append(name if names.count(name) == 1 else f"{name} ({index + 1})")
    return out
