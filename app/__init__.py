"""Dendrite Lab's live teaching dashboard (served with ``panel serve app``).

``main.py`` builds one page per browser session; the modules are plain Python
so they can be imported (and tested) without a server:

* :mod:`app.settings` -- the controls, generated from the spec's field declarations, and the
  link codec (URL state and the sentences for refused values);
* :mod:`app.controller` -- a session's settings driving its runs: play, pause, step, live
  changes, resets, the ghost, the status line;
* :mod:`app.engine` -- the session's training thread: commands in, typed events
  (:mod:`app.events`) out through a bounded queue; chunk pacing in :mod:`app.pacing`;
* :mod:`app.tracker` -- a run's record on the page side (latest numbers, export history),
  the same for the main run and the ghost;
* :mod:`app.seats` / :mod:`app.compute` -- the class's training places and the shared CPU;
* :mod:`app.plots` -- a run's rows and latest values feeding Bokeh figures;
* :mod:`app.tsne` -- background openTSNE maps of hidden activity;
* :mod:`app.ghost` -- the ghost run: a second training thread beside the session's run;
* :mod:`app.experiments` / :mod:`app.cards` -- the paper's experiments as cards with live results;
* :mod:`app.sweep_view` -- heat maps of sweep directories, with a click-through to each run;
* :mod:`app.explain` -- the texts for students beside each plot;
* :mod:`app.export` -- run and plot downloads;
* :mod:`app.paper` -- the paper's published errors and our shipped reference curves;
* :mod:`app.page` -- the template and the periodic drain that tie it together;
* ``server_lifecycle.py`` / :mod:`app.warmup` -- per-process logging and warm-up.
"""
