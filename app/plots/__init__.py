"""The live plots: a run's rows and latest values feeding Bokeh figures.

One :class:`LivePlots` exists per run (a new network gets new figures, so the
number of curves always matches the number of layers).  The page's periodic
callback hands each :class:`app.controller.Update` to :meth:`LivePlots.update`,
inside ``pn.io.hold()``, which sends it on:

* ``scalars`` -- :class:`~.rows.Rows` of one row per snapshot (running-mean
  training error and losses, angles, eigenvalue);
* ``tests`` -- Rows of test-error measurements;
* ``plateau``, ``traces``, ``example``, ``tsne``, ``paper`` -- each a
  :class:`~.latest.Latest`, holding the latest value.

Each has one light subscriber that writes into the data sources of
Bokeh figures built once per run (new rows are streamed, small arrays
replaced; the t-SNE map only resends x and y).  We measured HoloViews
DynamicMaps redrawing the same five plot groups at about 140 ms of CPU per
update on the 2-core reference machine, against a few milliseconds this way,
and the page must refresh at least four times a second next to the training
thread.  HoloViews' own ``Buffer`` and ``Pipe`` streams, used here before, cost
a few hundred microseconds per send in param events and DataFrames; the plain
classes hold the same data and call the same subscribers.

A ghost run (app/ghost.py) has its own pair of Rows (``ghost.scalars``,
``ghost.tests``) feeding dashed purple curves on the same axes as the main run's
learning curves, losses, angles and eigenvalue; they are hidden while there is
no ghost.

Bounded: the scalar rows and their plots keep at most ``MAX_ROWS`` rows; when
they fill up, neighbouring rows are merged pairwise and later snapshots are
merged two at a time (then four, ...), so the curves always show the whole
run.  The test rows keep the last ``MAX_TESTS`` measurements.

The modules:

* :mod:`.series` -- one run's rows (:class:`Series`, the same class for the
  main run and the ghost): rows, running means, merging and thinning;
* :mod:`.style` -- sizes, colours, and the two :class:`RunStyle` values that are
  all that tells a ghost's curve from the main run's;
* :mod:`.base` -- figure helpers, the :class:`Group` each builder returns, and
  :class:`Feed` (which columns of the rows fill which Bokeh source);
* :mod:`.rows` and :mod:`.latest` -- :class:`~.rows.Rows` and
  :class:`~.latest.Latest`, what the figures subscribe to;
* one module per figure group, each with a ``build`` returning its figures and
  the sources it updates: :mod:`.learning` (error and losses), :mod:`.alignment`
  (angles and eigenvalue), :mod:`.plateaus` (plateaus and voltage traces),
  :mod:`.tsne_map`, :mod:`.example`; the groups that show both runs draw each
  through one ``draw_run`` function, given the run's style;
* :mod:`.live` -- :class:`LivePlots`, which wires streams to groups;
* :mod:`.images` -- the hover tooltips' PNGs.
"""
from .images import png_data_uri, probe_image_uris
from .live import LivePlots
from .series import MAX_ROWS, MAX_TESTS, SMOOTH_EXAMPLES, Series
from .style import (CLASS_COLORS, GHOST, GHOST_DASH, GHOST_LAYERS, GHOST_TEST, GHOST_TRAIN, HEIGHT, LAYER_COLORS,
                    MAIN, POTENTIALS, TOOLS, WIDTH, RunStyle)

__all__ = ["CLASS_COLORS", "GHOST", "GHOST_DASH", "GHOST_LAYERS", "GHOST_TEST", "GHOST_TRAIN", "HEIGHT",
           "LAYER_COLORS", "MAIN", "MAX_ROWS", "MAX_TESTS", "POTENTIALS", "SMOOTH_EXAMPLES", "TOOLS", "WIDTH",
           "LivePlots", "RunStyle", "Series", "png_data_uri", "probe_image_uris"]
