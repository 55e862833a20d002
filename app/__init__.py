"""Dendrite Lab's live teaching dashboard (served with ``panel serve app``).

``main.py`` builds one page per browser session; the modules are plain Python
so they can be imported (and tested) without a server:

* :mod:`app.controller` -- the param controller mirroring the spec (its widgets,
  URL state, live changes, resets, the status line);
* :mod:`app.engine` -- the session's training thread and its bounded queue;
* :mod:`app.plots` -- HoloViews Buffer/Pipe streams feeding Bokeh figures;
* :mod:`app.tsne` -- background openTSNE maps of hidden activity;
* :mod:`app.ghost` -- the ghost run: a second training thread beside the session's run;
* :mod:`app.experiments` / :mod:`app.cards` -- the paper's experiments as cards with live results;
* :mod:`app.sweep_view` -- heat maps of sweep directories, with a click-through to each run;
* :mod:`app.explain` -- the texts for students beside each plot;
* :mod:`app.export` -- run and plot downloads;
* :mod:`app.page` -- the template and the periodic drain that tie it together;
* ``server_lifecycle.py`` / :mod:`app.warmup` -- per-process logging and warm-up.
"""
