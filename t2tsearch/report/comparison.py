"""A run's groups compared for its report, at the run's scale (dataset, images, epochs, seeds)."""

from __future__ import annotations

from t2tsearch.errors import UserError
from t2tsearch.groups import GroupComparison, Scale, compare_groups, group_members
from t2tsearch.results.run import Run


class ReportError(UserError):
    """A run or runs that cannot be reported (groups matching nothing, fewer than two to compare)."""


def run_scale(data: Run) -> Scale:
    train = data.space.train
    return Scale(dataset=train.dataset, img_size=train.img_size, epochs=train.epochs,
                 seeds=data.confirm_seeds, train_images=train.train_subset)


def group_comparison(data: Run, bootstrap: int = 1000) -> GroupComparison | None:
    """The space's groups compared; None without groups. Raises if no trial is in any group."""
    names = list(data.space.groups)
    if not names:
        return None
    table = data.table
    if not any(len(group_members(table, name)) for name in names):
        raise ReportError(f"{data.run.path}: none of its {len(table)} trials belongs to any of "
                          f"the space's groups ({', '.join(names)}); check their conditions in "
                          f"{data.run.space_file}")
    # Confirmed architectures bring every seed's run, which the interval resamples too.
    return compare_groups(table, names, run_scale(data), bootstrap=bootstrap,
                          seed=data.space.search.seed, reference=data.reference,
                          seed_runs=data.seed_runs, margin=data.space.comparison.margin)
