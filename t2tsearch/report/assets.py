"""The files beside a page: plotly.min.js (so it opens offline) and PNG images through kaleido."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go

from t2tsearch.atomic import atomic_write

PLOTLY_JS = "plotly.min.js"


def write_plotly_js(folder: Path) -> Path:
    """plotly.min.js beside the page, so it opens offline; rewritten only when it differs."""
    from plotly.offline import get_plotlyjs

    path = folder / PLOTLY_JS
    script = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(script.encode()):
        atomic_write(path, script, prefix=".report-")
    return path


CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chrome() -> str | None:
    """A Chrome/Chromium kaleido can drive (BROWSER_PATH first, as kaleido's own lookup does)."""
    given = os.environ.get("BROWSER_PATH")
    if given and Path(given).is_file():
        return given
    for name in CHROME_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def export_pngs(figures: Mapping[str, go.Figure], folder: Path) -> str:
    """Write NAME.png for each figure with kaleido; returns a one-line notice when skipped."""
    chrome = find_chrome()
    if chrome is None:
        return "PNG images skipped: no Chrome or Chromium found (apt-get install chromium)"
    try:
        import kaleido
    except ImportError:
        return "PNG images skipped: kaleido is not installed (pip install kaleido)"
    os.environ.setdefault("BROWSER_PATH", chrome)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One browser for all images: ~0.15 s each instead of ~3 s.
            kaleido.start_sync_server(silence_warnings=True)
            try:
                for name, fig in figures.items():
                    png = fig.to_image(format="png", width=1000, height=560, scale=1)
                    atomic_write(folder / f"{name}.png", png, prefix=".report-")
            finally:
                kaleido.stop_sync_server(silence_warnings=True)
    except Exception as err:  # noqa: BLE001 - a broken browser must not cost the report
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"PNG images skipped: kaleido could not render ({first})"
    return ""
