"""The report's set-level figure: the interval, over the bootstrap replicates' histogram when they are recorded."""
import base64
import io

import numpy as np
from PIL import Image

from evalkit.report.figures import interval_figure


def _record(fds):
    row = {"metric": "fvd", "column": "fvd", "preset": "tf", "value": 100.0, "ci_low": 80.0, "ci_high": 130.0,
           "n_videos": 12}
    return {"aggregate": [row], "metrics": {"fvd": {"bootstrap": {"replicates": 100, "fds": fds}}}}


def _pixels(uri):
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L"))


def test_interval_figure_draws_the_replicates_when_recorded():
    fds = list(np.random.default_rng(0).normal(110, 8, 100))
    with_hist, bare = _pixels(interval_figure(_record(fds))), _pixels(interval_figure(_record([])))
    assert with_hist.shape == bare.shape and (with_hist != bare).mean() > 0.01  # the histogram is on the page
    assert interval_figure({"aggregate": [], "metrics": {}}) is None
