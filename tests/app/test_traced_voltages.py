"""The traced neuron's voltages, read out of a snapshot's rows, in the voltage plot and the network picture; and
the picture naming the example the example plot shows."""
import numpy as np
import pytest

pytest.importorskip("panel")

from dendcore.snapshot import Traces  # noqa: E402

from app.network_picture import NetworkPicture  # noqa: E402
from app.plots.plateaus import traced_voltages  # noqa: E402


def _traces(steps=120, neurons=("h1[3]", "h1[9]", "out[2]"), seed=0, form="array") -> tuple[Traces, np.ndarray]:
    """Traces as the trainer makes them (views of one array) or as read back from a run file (lists)."""
    rows = np.random.default_rng(seed).normal(size=(steps, 3, len(neurons)))
    held = rows.copy() if form == "array" else rows.tolist()
    pick = (lambda k: held[:, k, :]) if form == "array" else (lambda k: [r[k] for r in held])
    tr = Traces(neurons=list(neurons), V=pick(0), V_b=pick(1), V_a=pick(2), forward_steps=60, target_steps=60,
                forward_window=(40, 60), target_window=(100, 120))
    return tr, rows


FORMS = pytest.mark.parametrize("form", ["array", "lists"])


@FORMS
def test_each_column_is_that_neurons_voltages_through_the_example(form):
    tr, rows = _traces(form=form)
    for col in range(3):
        soma, basal, apical = traced_voltages(tr, col)
        assert soma.dtype == float and soma.shape == (120,)
        assert np.array_equal(soma, rows[:, 0, col])
        assert np.array_equal(basal, rows[:, 1, col])
        assert np.array_equal(apical, rows[:, 2, col])


@FORMS
def test_the_picture_shows_the_chosen_neurons_mean_voltages(form):
    tr, rows = _traces(form=form)
    pic = NetworkPicture()
    pic._traces({"traces": tr})
    assert pic.values["neuron"] == "h1[3]"                  # the first traced neuron until one is chosen
    assert pic.values["soma"] == pytest.approx(rows[:, 0, 0].mean(), abs=1e-12)
    pic.chooser.value = "h1[9]"
    pic._traces({"traces": tr})
    assert pic.values["neuron"] == "h1[9]"
    assert pic.values["basal"] == pytest.approx(rows[:, 1, 1].mean(), abs=1e-12)
    assert pic.values["soma"] == pytest.approx(rows[:, 0, 1].mean(), abs=1e-12)


def test_the_picture_names_the_example_the_example_plot_shows_after_every_poll():
    """Polls come 0.2 s apart on a solo page: each one's example reaches the picture, not every other one."""
    from dendcore import SCHEMA_VERSION, Snapshot
    from app.controller import Update
    from app.plots import LivePlots

    def snap(k, label, guess):
        return Snapshot(version=SCHEMA_VERSION, examples_seen=k, epoch=0.0, wall_s=0.0, examples=1,
                        loss_output=0.5, loss_hidden=[0.2], train_error_pct=0.0, example_index=k,
                        example_label=label, example_prediction=guess, example_output_rates=[0.1] * 10)

    plots = LivePlots(1, "rate", tuple(str(k) for k in range(10)))
    plots.figures()
    pic = NetworkPicture()
    pic.attach(plots)
    for k, (label, guess) in enumerate([(0, 0), (7, 7), (4, 9), (1, 1)]):
        plots.update(Update(run_id=1, progress=[snap(100 + k, label, guess)]),
                     example_image=lambda i: np.full((28, 28), 40 * (i - 99), dtype=np.uint8))
        pic.flush()                                     # as the page does after each poll's update
        mark = "✓" if label == guess else "✗"
        assert plots._h["image_fig"].title.text == f"target {label} · guess {guess} {mark}"
        assert f"{label} → {guess} {mark}" in pic.pane.object, f"poll {k}: the picture lags the example plot"
        assert f"ink {40 * (k + 1) / 255:.2f}" in pic.pane.object
