"""Dendrite Lab's live teaching dashboard (served with ``panel serve app``).

``main.py`` builds one page per browser session; the modules here are plain
Python so they can be imported (and tested) without a server:

* :mod:`app.controller` -- the param controller mirroring the spec, and the
  session's engine thread;
* :mod:`app.plots` -- HoloViews streams and plots;
* :mod:`app.tsne` -- background openTSNE maps of hidden activity;
* :mod:`app.explain` -- the texts for students beside each plot;
* :mod:`app.export` -- run and plot downloads;
* :mod:`app.page` -- the template that puts it together.
"""
