"""Short texts for students, shown beside each plot (Markdown).

Each entry answers three questions: what is drawn, what to look for while the
network trains, and what Guerguiev, Lillicrap & Richards (eLife 2017) report.
"""

INTRO = """
**Dendrite Lab** trains the network of Guerguiev, Lillicrap & Richards (2017), *Towards deep learning
with segregated dendrites*, live in your browser. Hidden neurons have a **basal** dendrite (input from
below), a separate **apical** dendrite (feedback from the output layer) and a soma. Each example runs in
two phases: a **forward** phase (the image alone) and a **target** phase (the correct output is nudged
on). Hidden neurons compare the apical *plateau potential* of the two phases and change their basal
synapses by the difference; no error is ever sent backwards through the forward weights.

Press **▶ Play**. Sliders marked *(live)* act on the running network; the other model controls build a
new network and start again. The tabs of this box explain each plot; *Glossary* explains the words. Line
styles mean the same in every plot: solid is your run, dashed the ghost run, dotted a reference (the
paper, a threshold, the diagonal), dash-dotted the angle of Y to W. A thin grey vertical line marks a live
change of a slider (hover over its foot to read the new value).
"""

PLATEAUS = """
**What it shows.** The scatter: one dot per sample hidden neuron for the latest example. Across is its plateau
potential at the end of the forward phase, α^f = σ(mean apical voltage in the integration window); up
is the same in the target phase, α^t. The traces: that example's voltages for one hidden neuron: soma **V**,
basal **V_b** and apical **V_a**. The shaded bands are the integration windows that get averaged (blue:
forward, red: target); the dotted line is where the teaching signal switches on.

**What to look for.** A dot above the dotted diagonal means the top-down signal grew when the right
answer was imposed, so that neuron's active basal synapses are strengthened; below it, weakened. The
gap α^t − α^f is the neuron's entire learning signal, and it shrinks as the network learns. In the
traces, V follows V_b while g_a = 0 (the apical dendrite is segregated); raise the apical coupling g_a
and V starts to follow V_a too. The traces exist in spiking mode only.

**The paper.** Plateau potentials at the end of each phase carry the learning signal (paper, Figs. 2–3);
the hidden layer's loss is ‖α^t − α^f‖².
"""

LEARNING = """
**What it shows.** The **test error** (red dots, measured every few thousand examples on the
chosen number of test images) and the **training error** (blue: how many recent training examples the
network got wrong in the forward phase, before learning from them) against the number of examples
seen, on a logarithmic axis (each grid step is ten times more examples, so the first thousand keep
their room). The dotted lines are references: the flat one is the paper's test error after 60 epochs,
the other, where one is shipped, the test error of a 60-epoch reference run of the same preset. Beside
it, the **layer losses**: the output loss (target- minus forward-phase output rates, squared) and each hidden
layer's loss (target- minus forward-phase plateaus, squared).

**What to look for.** The error starts at chance (about 90 %) and drops within the first few thousand
examples. The hidden loss falls together with the output loss: hidden neurons learn to reduce the
output error although no error was sent to them. The run shown here covers only a sliver of the
paper's 60 epochs (3.6 million examples).

**Measured** (784-500-10, the paper's settings). Mean test error 26.8 % after 10,000 spiking examples
(2 seeds) and 7.5 % after one epoch in rate mode (3 seeds; `dendcore/data/sweeps/baseline_comparison.csv`);
the 60-epoch spiking run was at 11.6 % after its first epoch (`dendcore/data/curves/glr17-1hl.csv`). Over
the first spiking epoch (seeds 0–2, `dendcore/data/story/learning-spiking.csv`) the output loss fell to
28 % and the hidden loss to 54 % of their values over the first 1,000 examples, and the two were
correlated at r = 0.31–0.45 over windows of 1,000 examples after the first 10,000. In rate mode, without spike
noise, r > 0.99 (`learning-rate.csv`).

**The paper.** After 60 epochs: 784-10 (no hidden layer) 8.3 %, 784-500-10 4.1 %, 784-500-100-10
3.2 %; the two losses are positively correlated (r ≈ 0.2–0.6) after the first epoch.
"""

ALIGNMENT = """
**What it shows.** Solid: the angle between the change this rule makes to a hidden layer and the
change backprop would make for the same example (mean over the last 100 examples); 90° means
unrelated, 0° identical. Dash-dotted: the angle between the fixed feedback weights Y and the transposed
forward weights above them. Beside it: the largest eigenvalue of (I − J_β J_γ)ᵀ(I − J_β J_γ) for the top
hidden layer. J_β is the Jacobian of the output rates with respect to the hidden rates, J_γ that of the
plateau potentials with respect to the output rates; as in the authors' code, each example's product
J_β J_γ is averaged over the last 100 examples. The paper's Theorem 1 guarantees that the hidden targets
lower the output loss while this eigenvalue is below 1 (dotted line).

**What to look for.** Both angles start near 90° and fall: the forward weights rotate to agree with
the random feedback, so the dendritic update starts pointing roughly where backprop's does. Switch the
learning rule to backprop to see 0°, or the feedback to symmetric. The eigenvalue does not settle below 1:
it hovers around it. J_β J_γ stays small (most output and apical sigmoids sit far from their steep
middle), so the eigenvalue is about 1 minus the smallest eigenvalue of J_β J_γ + (J_β J_γ)ᵀ: it dips below
1 while the feedback pushes every output direction along itself.

**Measured.** Rate mode, 784-500-10, one sample per 100 examples (`dendcore/data/eigen/eigen-rate.csv`,
`python -m benchmarks.eigen_story`): in the first epoch it stays between 0.95 and 1.14 and first
dips below 1 after 11,700–32,000 examples (seeds 0–2); over 60 epochs (seed 0) it stays between 0.90
and 1.22, is below 1 in 25–56 % of each epoch's samples after the first, and no epoch is below 1
throughout. Spiking mode, first 30,000 examples (`eigen-spiking.csv`, seeds 0–2): between 0.91 and
1.24, first below 1 after 4,500–24,400 examples; below 1 in 0–4 % of the samples of the first 5,000
examples and in 2–86 % of those of the last 5,000.

The angle to backprop (seeds 0–2, `dendcore/data/story/learning-spiking.csv` and `learning-rate.csv`): spiking 87.8–88.7° after
1,000 examples and 67.8–70.2° after one epoch; rate 71.7–74.2° after 1,000 and 36.8–42.2° after one epoch. In the
same epoch the angle of Y to W fell to 35.8–38.3° (spiking) and 46.0–46.6° (rate). Over 60 epochs of spiking
training the angle to backprop rose again, from 70.2° after the first epoch to 81.5° after the last
(`dendcore/data/curves/glr17-1hl.csv`); why was not studied here.

**The paper.** With one hidden layer the angle to backprop settles at about 65–70° with spiking
feedback and 35–40° with noise-free (rate) feedback, as measured here in the first epoch. Its Theorem-1 panel is read as the eigenvalue
falling below 1 within the first epoch; computed the way the authors' code computes it, ours hovers
around 1 instead (numbers above).
"""

TSNE = """
**What it shows.** Each dot is one of a fixed set of 1,000 test images, placed by t-SNE so that
images that make the top hidden layer respond alike lie close together. Colour and marker shape give
the true class; hover over a dot to see its image. The map is recomputed in the background every few seconds, starting
from the previous map, so dots drift instead of jumping. When a whole class trains on the server, maps
come much less often, so that training keeps the CPU; the title then says so.

**What to look for.** Before training the hidden layer is a random projection of the pixels: similar
images already group loosely, but classes overlap. As the network learns, groups tighten and separate;
watch whether {confusable} stay neighbours. Only the grouping means
something: distances between far-apart clusters and the orientation of the map do not.

**The paper.** Hidden-layer activity separates the classes, and more so in higher layers (compare
784-500-10 with 784-500-100-10).
"""

EXAMPLE = """
**What it shows.** The latest training example, the forward-phase firing rate of each output neuron
(one bar per class, before the teaching signal), the network's prediction (the output with the highest
voltage in the forward phase) and the correct class.

**What to look for.** At first the bars are nearly flat and predictions are guesses. After a few
thousand examples the target's bar usually towers over the rest. Choose *Speed: 1 example/s* to follow
examples one by one together with their voltage traces, or press **Step** to train on exactly one.

**The paper.** The output neurons have a dendrite and a soma; in the target phase a teaching current
pushes the soma of the correct class up and the others down, and the output layer learns from the
difference between the two phases.
"""

# classes a network confuses, by data set: the t-SNE text must talk about the images on the screen
CONFUSABLE = {
    "mnist": "digits that look alike (4 and 9; 3, 5 and 8)",
    "fashion-mnist": "garments that look alike (T-shirt/top, shirt, pullover and coat; sandal, sneaker and ankle boot)",
}


def for_dataset(text: str, dataset: str) -> str:
    """A text with its data-set words filled in (a data set without its own words gets general ones)."""
    return text.replace("{confusable}", CONFUSABLE.get(dataset, "classes that look alike"))


SECTIONS = {
    "plateaus": ("1 · Plateau potentials and voltages", PLATEAUS),
    "learning": ("2 · Learning curves", LEARNING),
    "alignment": ("3 · Alignment with backprop", ALIGNMENT),
    "tsne": ("4 · t-SNE of hidden activity", TSNE),
    "example": ("5 · The current example", EXAMPLE),
}

# ------------------------------------------------------------------ the ghost run
GHOST_INTRO = """
**Ghost run: {label}.** The dashed curves of the error, loss, angle and eigenvalue plots belong to a second
network, the *ghost*.
It has the same architecture and seed as your run, so it starts from the same forward weights and
sees the same training images in the same order; only the setting named above differs. It starts,
pauses and resets with your run and is never allowed to get ahead of it, so at any point on the
x-axis both networks have learned from exactly the same examples.
"""

# What the fair comparison measured (the numbers are tests/app/test_baseline_claims.py's to check against
# dendcore/data/sweeps/baseline_comparison.csv, made by `python -m benchmarks.baseline_lr_sweep`).
BASELINE_FIGURES = """
**Measured** in 784-500-10, every rule at its own learning rates (hidden / output: backprop 17 / 0.0077,
feedback alignment 17 / 0.07, segregated dendrites 0.21 / 0.21, the paper's). The baselines' rates had the lowest
error on 10,000 held-out training images in a sweep that never saw the test set. Mean test error, rate mode
(3 seeds, all 10,000 test images) after 1,000 / 10,000 / 60,000 examples: backprop 18.7 / 7.8 / 4.2 %, feedback alignment
33.5 / 9.6 / 5.2 %, segregated dendrites 44.9 / 12.0 / 7.5 %. Spiking (2 seeds, the first 2,000 test images) after
1,000 / 10,000 examples: backprop 30.6 / 14.5 %, feedback alignment 66.3 / 15.3 %, segregated
dendrites 86.5 / 26.8 %. At the dendritic rule's rates, as the baselines used to run, backprop had
68.6 % after 1,000 rate-mode examples and 14.2 % after 10,000: *behind* the dendritic rule early, because
its hidden layer hardly learned. The dendritic rule keeps the paper's rates, which are not its best either:
on the held-out images a hidden rate of 0.63 gave 8.4 % against 10.5 % after 20,000 examples.
"""

GHOST = {
    "backprop": """
The ghost learns by **backprop**: each hidden neuron receives the output error carried back exactly,
through the transpose of the output weights, times its own slope. Your run's hidden neurons never see
that error; they get a top-down signal through fixed random weights Y and turn it into the difference
of two plateau potentials. The ghost's angle to backprop is 0° by definition. Yours says how far the
dendritic update points away from the exact direction (90° would be no relation at all).

Backprop's hidden error is far smaller than a difference of plateaus, so the ghost trains at backprop's
own learning rates (your sliders move them by the same factor as yours). With each rule at its own rates,
backprop was ahead of the dendritic rule at every point measured (below), by less as training went
on. That gap is what exact error transport buys over plateau potentials and random feedback in this
network, over the first epoch; how it ends after many epochs was not measured here (the paper: 4.1 %
for the dendritic rule after 60 epochs).
""" + BASELINE_FIGURES,
    "feedback_alignment": """
The ghost learns by **feedback alignment**: the output error reaches the hidden layer through a fixed
random matrix and is applied directly, with no phases and no plateaus. Both networks use random
feedback, so the difference between the curves shows what the dendritic machinery itself (two phases,
the apical voltage squashed into a plateau, the error as a difference of plateaus) costs or adds. The
ghost trains at feedback alignment's own learning rates (your sliders move them by the same factor as
yours). With each rule at its own rates, feedback alignment was ahead of the dendritic rule at
every point measured (below): in this network, over the first epoch, delivering the random-feedback
error directly learned faster than delivering it as a difference of plateaus.
""" + BASELINE_FIGURES,
    "dendrites": """
The ghost learns with the paper's **segregated-dendrites** rule (apical plateau potentials, fixed random
feedback), at that rule's own learning rates. Use it when your own run uses backprop or feedback
alignment, to see what the biologically motivated rule costs.
""" + BASELINE_FIGURES,
    "ga06": """
In the ghost the apical dendrite is coupled to the soma with **g_a = 0.6**, as strongly as the basal
dendrite. Feedback then leaks into the soma already in the forward phase, and the basal input counts
for less (k_b falls from 0.86 to 0.46). The paper found learning clearly worse with this weak
attenuation (784-500-100-10). The g_a slider moves only your run; the ghost keeps 0.6.
""",
    "ga005": """
In the ghost the apical coupling is **g_a = 0.05** (strong attenuation): a little feedback leaks into the
soma. The paper found this about as good as full segregation (784-500-100-10). The g_a slider moves only your run.
""",
    "ga0": """
The ghost's apical dendrite is **fully segregated** (g_a = 0): feedback never reaches the soma directly.
Use it beside a run with a larger g_a. The g_a slider moves only your run.
""",
    "symmetric": """
The ghost's feedback weights are the **transposed output weights**, copied again after every example,
so its apical dendrites receive what backprop would send, seen through the plateau's sigmoid. Measured
(seeds 0–2, `dendcore/data/story/`): in rate mode its angle to backprop was 10.6–11.6° after one epoch
against 36.8–42.2° with random feedback; with spikes 37.2–40.0° against 87.8–88.7°
after 1,000 examples, but 64.9–67.0° against 67.8–70.2° after one epoch. Paper, 784-500-10 after
60 epochs: 3.6 % with symmetric against 4.1 % with random feedback.
""",
    "noisy_symmetric": """
The ghost's feedback is the transposed output weights **plus noise** (sd 0.05), redrawn at every copy: an
approximate copy instead of an exact one. Does an imperfect copy still beat random feedback?
""",
    "random": """
The ghost uses fixed **random feedback** weights, the paper's default. Use it beside a run with symmetric
or sparse feedback.
""",
    "sparse": """
**80 % of the ghost's feedback weights are zero** and the others are multiplied by 5, so the apical
input keeps its usual size from a fifth of the synapses. Paper, 784-500-10 after 60 epochs: 3.7 %
with sparse feedback, 4.1 % with dense random feedback.
""",
    "sparse_norescale": """
**80 % of the ghost's feedback weights are zero, and the rest are not scaled up**: the top-down signal is
five times weaker, and so is the difference between the plateau potentials that drives hidden
learning. Compare it with sparse feedback that is rescaled to tell losing synapses apart from losing
signal.
""",
    "rate": """
The ghost's neurons use **rates instead of spikes**: every phase jumps straight to its steady state, so
its plateau potentials are exact instead of averages of noisy voltages over windows of random length.
Watch the angle to backprop: the paper reports about 65–70° with spiking feedback and 35–40° with rate
feedback (one hidden layer); measured here after one epoch, 67.8–70.2° and 36.8–42.2° (seeds 0–2,
`dendcore/data/story/`). Rate mode trains much faster, but the ghost waits for your run.
""",
    "spiking": """
The ghost uses **spiking neurons** (Poisson spikes, two phases of about 50 ms per example): the paper's
model, with noisy plateau potentials. It trains far more slowly than a rate-mode run, so it falls
behind; its curves show what the noise of spikes costs at the same number of examples.
""",
    "jittered": """
Each of the ghost's hidden neurons has its plateau at its **own random moment**, up to 5 ms before the
phase ends, instead of all at the end. Does learning need the whole layer to agree on when a phase
is over? In rate mode there is no timing, so there the ghost equals your run.
""",
    "twin": """
The ghost is an **identical twin**: same settings, seed, initial weights and examples. Its curves lie on
top of yours (up to how points are grouped for drawing). It is the control that makes the other
comparisons fair: whatever differs with another choice comes from that choice, not from the data.
""",
}

def ghost_note(choice: str, run, ghost_run) -> str:
    """What the ghost compares, and whether with these settings it is the same network as the main run."""
    from .ghost import GHOSTS
    if choice == "off" or choice not in GHOSTS:
        return ""
    text = GHOST_INTRO.format(label=GHOSTS[choice].label) + GHOST.get(choice, "")
    if choice != "twin" and run is not None and ghost_run.spec is not None and ghost_run.spec == run.spec:
        text += GHOST_SAME
    return text


GHOST_SAME = """
*With your current settings the ghost's network is the same as yours (for example backprop beside
backprop, or a feedback variant in a network without hidden layers), so both curves should coincide.*
"""

# ------------------------------------------------------------------ cards and sweeps
CARDS_INTRO = """
Each card is one experiment of Guerguiev, Lillicrap & Richards (2017): what it tests, what the paper
reports, and your own result, which updates while a run of that preset trains (your run or its ghost;
a run counts only while every setting equals the preset's). The paper trained for 60 epochs (3.6
million examples), so early numbers are far above the published ones: compare the variants of a
card with each other at the same number of examples. The *rate* buttons load the fast rate-mode
version of a preset.
"""

SWEEPS = """
**Sweeps** run a grid of settings times several seeds, made with `python -m dendcore sweep` (see the
README). Choose one from the list, which shows the sweeps in this server's sweep directory and the
examples shipped with Dendrite Lab. Each cell of a heat map is one grid point: the colour is the mean
over seeds of the final test error (left) or of the final angle to backprop (right); hover for the
spread over seeds. **Click a cell** to see the learning curves of that point's runs below.
"""
