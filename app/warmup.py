"""Warm-up: load the data and the compiled kernels once per server process.

Runs automatically from ``server_lifecycle.py``; it can also be given to
``panel serve --setup app/warmup.py`` or run as ``python -m app.warmup``.
"""
import numpy as np


def warm_up() -> None:
    from dendcore import Diagnostics, Trainer, get_preset, load_dataset
    data = load_dataset("mnist")
    for name in ("glr17-1hl", "glr17-1hl-rate"):
        tr = Trainer(get_preset(name).spec.replace(hidden=(20,)), data=data, seed=0,
                     diagnostics=Diagnostics(traces=True), chunk=50)
        stats = tr.train_examples(2, record_last=True)
        tr.snapshot(stats)
        tr.test(indices=np.arange(4))
        tr.probe_activity()
    import openTSNE  # noqa: F401  (the first import takes a moment)
    import app.page  # noqa: F401  (Panel, HoloViews and the page modules: ~1 s the first session would pay)
    from app.plots import probe_image_uris
    probe_image_uris(data, np.arange(min(1000, len(data.test_labels))))   # hover images of the t-SNE plot
    from app.tsne import start_worker
    start_worker()   # the t-SNE worker process, with openTSNE loaded


if __name__ == "__main__" or __name__.startswith("bokeh_app_"):
    warm_up()
