"""Reports of runs: the offline HTML page of a run and the page comparing runs; one module per job.

`comparison` (a run's groups compared at its scale), `figures` (plotly figures of a trials
table), `importance` (parameter importance from the study),
`text` (labels and numbers in words), `page` (the HTML parts: sections, tables, style),
`run_page` (`t2tsearch report`), `compare` (`t2tsearch compare`) and `assets` (plotly.min.js
and PNG export through kaleido). The names below are the ones callers import from
`t2tsearch.report`; a run is read through `t2tsearch.results` (`read_run`). None of these
modules imports torch, timm, Ray or the search engine.
"""

from __future__ import annotations

from t2tsearch.report.assets import PLOTLY_JS, export_pngs, find_chrome, write_plotly_js
from t2tsearch.report.compare import build_comparison
from t2tsearch.report.comparison import ReportError, group_comparison, run_scale
from t2tsearch.report.figures import (
    FRONT_TRACE,
    TRAINED,
    hypervolume_history,
    plot_accuracy_by_parameter,
    plot_compare_fronts,
    plot_fidelity,
    plot_front,
    plot_group_fronts,
    plot_hypervolume,
    plot_importance,
)
from t2tsearch.report.importance import MIN_IMPORTANCE_TRIALS, Importances, param_importances
from t2tsearch.report.page import Section
from t2tsearch.report.run_page import PNG_FIGURES, build_report, render_run_page, run_figures
from t2tsearch.report.text import LABELS, describe_arch, describe_reference

__all__ = [
    "FRONT_TRACE", "LABELS", "MIN_IMPORTANCE_TRIALS", "PLOTLY_JS", "PNG_FIGURES", "TRAINED",
    "Importances", "ReportError", "Section", "build_comparison", "build_report", "describe_arch",
    "describe_reference", "export_pngs", "find_chrome", "group_comparison",
    "hypervolume_history", "param_importances", "plot_accuracy_by_parameter",
    "plot_compare_fronts", "plot_fidelity", "plot_front", "plot_group_fronts",
    "plot_hypervolume", "plot_importance", "render_run_page", "run_figures", "run_scale",
    "write_plotly_js",
]
