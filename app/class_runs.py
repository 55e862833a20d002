"""A session's part in a class experiment: take a grid point, train it to the budget, record the result.

:class:`ClassRun` is mixed into :class:`app.controller.Controller`.  The controls show the
grid point's settings and are read-only (the point is the student's share of the class's
grid); the network is built from the point's spec and seed, trains to the experiment's
budget, is tested on the experiment's test images, and the result goes into the
experiment's sweep directory (:mod:`app.class_experiment`).  A page that holds its point
without training for :data:`app.class_experiment.CLAIM_IDLE_S` lets it go (a student cannot keep
points from the class by opening tabs); Play takes it back, or the next free point.
"""
from __future__ import annotations

import logging
import time

import param

from dendcore import ModelSpec
from dendcore.sweep import SweepError

from . import class_experiment as cx
from .presenting import PresentError

log = logging.getLogger("dendrite_lab.class_runs")


TESTS_PER_BUDGET = 5


def experiment_test_every(budget: int, chosen: int) -> int:
    """How often a class experiment's student measures the test error on the way (the final test is the
    experiment's result): at least every fifth of the budget, in steps of 500 examples.

    Students of one link share each test (app/shared_tests.py), but every grid point is a run of its
    own: with the default 2,500, 30 students training spiking grid points spent 0.43 of the server's 2
    cores on tests (``python -m benchmarks.load_test --servers 2 --experiment``)."""
    every = -(-budget // TESTS_PER_BUDGET // 500) * 500
    return int(min(60_000, max(chosen, every)))


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"


class ClassRun(param.Parameterized):
    experiment = param.String(default="", precedence=-1, doc="The class experiment this session trains a point of.")
    experiment_note = param.String(default="", precedence=-1, doc="Which grid point, and how it went.")

    def __init__(self, **params):
        self._assignment: cx.Assignment | None = None
        self._held_at = 0.0          # when the point last trained (or waited for a place), monotonic
        self._lapsed = False         # idle too long: the claim is no longer kept fresh
        self.my_point: dict | None = None    # the grid point this page trains or finished (framed on its map)
        super().__init__(**params)

    def join_experiment(self, code: str) -> bool:
        """Take the next open grid point of experiment ``code`` and build its network (paused)."""
        try:
            a = cx.claim(code, who=f"session-{id(self):x}", browser=getattr(self, "browser", None))
        except (SweepError, PresentError) as exc:
            self.notify(f"Cannot join the class experiment: {exc}.", "warning")
            return False
        if a is None:
            self.notify(f"Every grid point of the class experiment {code.upper()} is taken or done; the heat "
                        f"map shows the class's results. This page runs its own network.", "info")
            self.experiment = code.upper()
            return False
        self._assignment, self.my_point = a, dict(a.task["grid"])
        self._held_at, self._lapsed = time.monotonic(), False
        spec = ModelSpec.from_dict(a.task["spec"])
        self.quietly(seed=int(a.task["seed"]), mode=spec.mode, g_a=spec.g_a, feedback_scale=spec.feedback_scale,
                     lr_output=spec.lr[-1], **({"lr_hidden": spec.lr[0]} if spec.hidden else {}),
                     ghost="off", test_every=experiment_test_every(int(a.task["examples"]), self.test_every))
        self._mirrored = self.settings()
        self.param.update(experiment=a.code, experiment_note=self._point_note(a))
        self._active = True
        self._new_run(reason=None, spec=spec, budget=int(a.task["examples"]),
                      final_test_images=int(a.task["test_images"]))
        return True

    @staticmethod
    def _point_note(a: cx.Assignment) -> str:
        return (f"Class experiment {a.code}: you train grid point {a.index + 1} of {a.total}: {a.label}, for "
                f"{a.task['examples']:,} examples. Press ▶ Play; your result joins the class heat map.")

    @property
    def in_experiment(self) -> bool:
        return self._assignment is not None

    def _refused_in_experiment(self) -> bool:
        if self._assignment is None:
            return False
        self.notify("This page trains a grid point of the class experiment; it keeps its settings until the "
                    "point is done.", "info")
        return True

    def _experiment_tick(self) -> None:
        a = self._assignment
        if a is None:
            return
        now = time.monotonic()
        if self.running or self.watching:
            self._held_at = now
        if now - self._held_at <= cx.CLAIM_IDLE_S:
            cx.heartbeat(a)
        elif not self._lapsed:
            self._lapsed = True
            self.experiment_note = (f"Class experiment {a.code}: after {_duration(cx.CLAIM_IDLE_S)} without training, "
                                    f"grid point {a.index + 1}, {a.label}, is free for the class again. Press ▶ Play "
                                    f"to take it back, or the next free point if another student has it.")

    def _keep_point(self) -> None:
        """Before Play after an idle spell: take the point back, or else the next free one (a fresh network)."""
        a = self._assignment
        if a is None or not self._lapsed:
            return
        self._held_at, self._lapsed = time.monotonic(), False
        if cx.retake(a):
            self.experiment_note = self._point_note(a)
            return
        self._assignment, self.my_point = None, None     # another student's now: not ours to release
        if self.join_experiment(a.code):
            b = self._assignment
            self.notify(f"Grid point {a.index + 1} went to another student while this page was idle; you now train "
                        f"grid point {b.index + 1}, {b.label}, from the start.", "info")
        else:
            self.param.trigger("experiment")     # the controls are this page's own again

    def _experiment_done(self) -> str:
        """The budget is spent: the record is written; returns the sentence for the page."""
        a, self._assignment = self._assignment, None
        if a is None:
            return "The run reached its budget."
        self.param.trigger("experiment")        # the point is done: the page unlocks the controls (app/share_view.py)
        try:
            rec = cx.finish(a, self.history, self.tracker.last_test, self.tracker.last.wall_s
                            if self.tracker.last is not None else 0.0)
        except OSError as exc:
            log.warning("could not write the class result: %s", exc)
            return f"Your grid point finished, but its result could not be saved ({type(exc).__name__})."
        err = rec.get("test_error_pct")
        text = (f"Grid point done, {a.label}: test error {err:.1f} % on {rec['test_images']} images. It is in "
                f"the class heat map now; the settings are yours again." if err is not None
                else "Grid point done, without a test result; the settings are yours again.")
        self.experiment_note = text
        return text

    def leave_experiment(self) -> None:
        """The session ends before its point is done: the point goes back to the class."""
        if self._assignment is not None:
            cx.release(self._assignment)
            self._assignment = None
