"""Notebook 07: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "07_lr_schedules" / "07_lr_schedules.ipynb"

COSINE = "0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * t / T_max))"
RESTART_COSINE = "0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * T_cur / T_i))"

MISTAKES = [
    # cosine_annealing
    ("test_cosine_annealing", "cosine off by one step (t + 1)",
     solution_with(NB, "cosine_annealing", "np.pi * t / T_max", "np.pi * (t + 1) / T_max"), "off by one step"),
    ("test_cosine_annealing", "forgets lr_min",
     solution_with(NB, "cosine_annealing", f"lr_min + {COSINE}", "0.5 * lr0 * (1 + np.cos(np.pi * t / T_max))"), "lr_min is missing"),
    ("test_cosine_annealing", "divides by T_max - 1",
     solution_with(NB, "cosine_annealing", "np.pi * t / T_max", "np.pi * t / (T_max - 1)"), "T_max - 1"),
    ("test_cosine_annealing", "drops the factor 1/2",
     solution_with(NB, "cosine_annealing", "0.5 * (lr0 - lr_min)", "(lr0 - lr_min)"), "factor 1/2"),
    ("test_cosine_annealing", "clamps the rate at lr_min after T_max",
     solution_with(NB, "cosine_annealing", "np.pi * t / T_max", "np.pi * min(t, T_max) / T_max"), "keeps following the cosine"),
    # cosine_warm_restarts
    ("test_cosine_warm_restarts", "cycles do not lengthen with T_mult",
     solution_with(NB, "cosine_warm_restarts", "T_i *= T_mult", "T_i *= 1"), "do not lengthen"),
    ("test_cosine_warm_restarts", "restarts one step late (T_cur > T_i)",
     solution_with(NB, "cosine_warm_restarts", "while T_cur >= T_i:", "while T_cur > T_i:"), None),
    ("test_cosine_warm_restarts", "off by one step (t + 1)",
     solution_with(NB, "cosine_warm_restarts", "T_cur, T_i = t, T_0", "T_cur, T_i = t + 1, T_0"), "off by one step"),
    ("test_cosine_warm_restarts", "ignores lr_min",
     solution_with(NB, "cosine_warm_restarts", f"lr_min + {RESTART_COSINE}", "0.5 * lr0 * (1 + np.cos(np.pi * T_cur / T_i))"), "lr_min is missing"),
    # cyclic
    ("test_cyclic", "triangular2 does not halve",
     solution_with(NB, "cyclic", "0.5 ** cycle", "1.0"), "must halve the height"),
    ("test_cyclic", "triangular2 halves base_lr too",
     solution_with(NB, "cyclic", "return float(base_lr + (max_lr - base_lr) * height * scale)",
                   "return float((base_lr + (max_lr - base_lr) * height) * scale)"), "halved base_lr too"),
    ("test_cyclic", "triangular2 already halves the first cycle",
     solution_with(NB, "cyclic", "0.5 ** cycle", "0.5 ** (cycle + 1)"), "first cycle (c = 0) must reach max_lr"),
    ("test_cyclic", "a cycle of step_size_up steps, not 2 * step_size_up", """
def cyclic(t, base_lr, max_lr, step_size_up, mode="triangular"):
    s = step_size_up
    cycle, position = divmod(t, s)
    height = 1 - abs(2 * position / s - 1)
    scale = 1.0 if mode == "triangular" else 0.5 ** cycle
    return float(base_lr + (max_lr - base_lr) * height * scale)
""", None),
    # should_stop
    ("test_should_stop", "early stopping counts an equal loss as an improvement",
     solution_with(NB, "should_stop", "loss < best - min_delta", "loss <= best - min_delta"), "equal loss is not an improvement"),
    ("test_should_stop", "ignores min_delta",
     solution_with(NB, "should_stop", "loss < best - min_delta", "loss < best"), "min_delta"),
    ("test_should_stop", "stops one epoch late (wait > patience)",
     solution_with(NB, "should_stop", "wait >= patience", "wait > patience"), "not only once it is larger"),
    ("test_should_stop", "compares with the previous loss, not the best", """
def should_stop(losses, patience, min_delta=0.0):
    prev, wait = np.inf, 0
    for loss in losses:
        wait = 0 if loss < prev - min_delta else wait + 1
        prev = loss
    return wait >= patience
""", "not the previous one"),
    ("test_should_stop", "moves best to every new low, even one inside min_delta", """
def should_stop(losses, patience, min_delta=0.0):
    best, wait = np.inf, 0
    for loss in losses:
        wait = 0 if loss < best - min_delta else wait + 1
        best = min(best, loss)
    return wait >= patience
""", "Move best only on an improvement"),
    ("test_should_stop", "says stop only when wait equals the patience (wait == patience)",
     solution_with(NB, "should_stop", "wait >= patience", "wait == patience"), "stays True once it is reached"),
    # average_weights
    ("test_average_weights", "SWA weights the new model by 1/n instead of 1/(n+1)", """
def average_weights(avg, w, n_averaged):
    if isinstance(w, dict):
        return {k: average_weights(None if n_averaged == 0 else avg[k], v, n_averaged)[0] for k, v in w.items()}, n_averaged + 1
    if n_averaged == 0:
        return np.array(w, dtype=float), 1
    return avg + (w - avg) / n_averaged, n_averaged + 1
""", "1/n instead of 1/(n+1)"),
    ("test_average_weights", "does not count the new snapshot (returns n_averaged)",
     solution_with(NB, "average_weights", "return avg + (w - avg) / (n_averaged + 1), n_averaged + 1",
                   "return avg + (w - avg) / (n_averaged + 1), n_averaged"), "count"),
    ("test_average_weights", "updates the average in place", """
def average_weights(avg, w, n_averaged):
    if isinstance(w, dict):
        return {k: average_weights(None if n_averaged == 0 else avg[k], v, n_averaged)[0] for k, v in w.items()}, n_averaged + 1
    if n_averaged == 0:
        return np.array(w, dtype=float), 1
    avg += (w - avg) / (n_averaged + 1)
    return avg, n_averaged + 1
""", "modified its input"),
    ("test_average_weights", "an EWMA with weight 1/2, not a running mean",
     solution_with(NB, "average_weights", "avg + (w - avg) / (n_averaged + 1)", "(avg + w) / 2"), "not a running mean"),
    ("test_average_weights", "arrays only: no dict (state_dict) support", """
def average_weights(avg, w, n_averaged):
    if n_averaged == 0:
        return np.array(w, dtype=float), 1
    return avg + (w - avg) / (n_averaged + 1), n_averaged + 1
""", "when w is a dict"),
    # restart_step (predict)
    ("test_restart_step", "off by one in n: gives restart n + 1",
     solution_with(NB, "restart_step", "T_mult**n - 1", "T_mult**(n + 1) - 1"), "off by one in n"),
    ("test_restart_step", "off by one in n: adds up only n - 1 cycles", """
def restart_step(n, T_0, T_mult=1):
    total, length = 0, T_0
    for _ in range(n - 1):
        total, length = total + length, length * T_mult
    return total
""", "off by one in n"),
    ("test_restart_step", "gives T_0 * T_mult**n, the length of a cycle", """
def restart_step(n, T_0, T_mult=1):
    return T_0 * T_mult**n
""", "length of the cycle that begins at restart n"),
    ("test_restart_step", "forgets the case T_mult = 1 (divides by zero)", """
def restart_step(n, T_0, T_mult=1):
    return T_0 * (T_mult**n - 1) // (T_mult - 1)
""", "T_mult = 1"),
    ("test_restart_step", "a float division: not exact far into a run",
     solution_with(NB, "restart_step", "// (T_mult - 1)", "/ (T_mult - 1)"), "expected an int"),
    ("test_restart_step", "forgets the division by T_mult - 1",
     solution_with(NB, "restart_step", "T_0 * (T_mult**n - 1) // (T_mult - 1)", "T_0 * (T_mult**n - 1)"), None),
    ("test_restart_step", "NumPy integers, which overflow past 2**63",
     solution_with(NB, "restart_step", "T_0 * (T_mult**n - 1) // (T_mult - 1)",
                   "int(T_0 * (np.power(T_mult, n) - 1) // (T_mult - 1))"), None),
    # diagnose_lr (diagnose)
    ("test_diagnose_lr", "ignores nan and inf (nan >= x is False)",
     solution_with(NB, "diagnose_lr", "if not np.all(np.isfinite(L)) or L[-1] >= L[0]:", "if L[-1] >= L[0]:"), "nan compares as False"),
    ("test_diagnose_lr", "looks for nan only at the end of the run",
     solution_with(NB, "diagnose_lr", "if not np.all(np.isfinite(L)) or L[-1] >= L[0]:",
                   "if not np.isfinite(L[-1]) or L[-1] >= L[0]:"), "a nan anywhere"),
    ("test_diagnose_lr", "calls a run good when its final loss is small", """
def diagnose_lr(losses):
    L = np.asarray(losses, dtype=float)
    if not np.all(np.isfinite(L)) or L[-1] >= L[0]:
        return "too high"
    return "good" if L[-1] < 1.0 else "too low"
""", "not how low the loss got"),
    ("test_diagnose_lr", "calls a run good when it lost half its starting loss", """
def diagnose_lr(losses):
    L = np.asarray(losses, dtype=float)
    if not np.all(np.isfinite(L)) or L[-1] >= L[0]:
        return "too high"
    return "good" if L[-1] < 0.5 * L[0] else "too low"
""", "not how low the loss got"),
    ("test_diagnose_lr", "measures the first half's share of the decrease, not the second's",
     solution_with(NB, "diagnose_lr", "middle - L[-1] < 0.1 * (L[0] - L[-1])", "L[0] - middle < 0.1 * (L[0] - L[-1])"), "first half"),
    ("test_diagnose_lr", "a run that did not move is not 'too high' (> instead of >=)",
     solution_with(NB, "diagnose_lr", "L[-1] >= L[0]", "L[-1] > L[0]"), "no progress at all"),
    ("test_diagnose_lr", "labels spelled otherwise",
     solution_with(NB, "diagnose_lr", 'return "too high"', 'return "Too high"'), "none of the labels"),
    # log_uniform
    ("test_log_uniform", "log-uniform sampling uniform in value",
     solution_with(NB, "log_uniform", "np.exp(rng.uniform(np.log(low), np.log(high), size=size))",
                   "rng.uniform(low, high, size=size)"), "uniform in value"),
    ("test_log_uniform", "returns the logarithms (forgets exp)",
     solution_with(NB, "log_uniform", "np.exp(rng.uniform(np.log(low), np.log(high), size=size))",
                   "rng.uniform(np.log(low), np.log(high), size=size)"), "returned log-values"),
    ("test_log_uniform", "mixes log10 and exp",
     solution_with(NB, "log_uniform", "np.exp(rng.uniform(np.log(low), np.log(high), size=size))",
                   "np.exp(rng.uniform(np.log10(low), np.log10(high), size=size))"), "mixed logarithm bases"),
    ("test_log_uniform", "ignores size",
     solution_with(NB, "log_uniform", "np.exp(rng.uniform(np.log(low), np.log(high), size=size))",
                   "np.exp(rng.uniform(np.log(low), np.log(high)))"), None),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 14)
