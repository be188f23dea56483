"""Notebook 03: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognised, the failure message must name it.
"""

from mistakes import catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "03_ewma" / "03_ewma.ipynb"

MISTAKES = [
    ("test_ewma", "(1 - beta) on the wrong term",
     solution_with(NB, "ewma", "beta * v + (1 - beta) * x[t - 1]", "(1 - beta) * v + beta * x[t - 1]"), "beta and 1 - beta are swapped"),
    ("test_ewma", "starts from v = x_1 instead of v_0 = 0",
     solution_with(NB, "ewma", "v = 0.0", "v = x[0]"), "you started from v = x_1"),
    ("test_ewma", "stores v before the update (output shifted by one)", """
def ewma(x, beta, bias_correction=False):
    x = np.asarray(x, dtype=float); out = np.zeros(len(x)); v = 0.0
    for t in range(1, len(x) + 1):
        out[t - 1] = v / (1 - beta**t) if bias_correction else v
        v = beta * v + (1 - beta) * x[t - 1]
    return out
""", "you stored v_{t-1}"),
    ("test_ewma", "includes v_0 (wrong length)", """
def ewma(x, beta, bias_correction=False):
    v, out = 0.0, [0.0]
    for t, x_t in enumerate(x, start=1):
        v = beta * v + (1 - beta) * x_t
        out.append(v / (1 - beta**t) if bias_correction else v)
    return np.array(out)
""", "v_0 = 0 is not part of the output",
     # the same function's output has the wrong length with and without correction: both cells test it
     {"also_fails": {"test_ewma_bias_correction"}}),
    ("test_ewma", "writes the averages into the caller's array", """
def ewma(x, beta, bias_correction=False):
    v = 0.0
    for t in range(1, len(x) + 1):
        v = beta * v + (1 - beta) * x[t - 1]
        x[t - 1] = v / (1 - beta**t) if bias_correction else v
    return x
""", "modified its input"),
    ("test_ewma", "output keeps an integer input's dtype",
     solution_with(NB, "ewma", "x = np.asarray(x, dtype=float)\n    out = np.zeros(len(x))", "x = np.asarray(x)\n    out = np.zeros_like(x)"),
     "cut to whole numbers"),
    ("test_ewma", "always bias-corrects",
     solution_with(NB, "ewma", "if bias_correction else v", "if True else v"), "although bias_correction=False"),
    ("test_ewma_bias_correction", "bias correction with t starting at 0",
     solution_with(NB, "ewma", "v / (1 - beta**t)", "v / (1 - beta**(t - 1))"), "count t from 1"),
    ("test_ewma_bias_correction", "correction exponent one too high (t + 1)",
     solution_with(NB, "ewma", "v / (1 - beta**t)", "v / (1 - beta**(t + 1))"), "the exponent is one too high"),
    ("test_ewma_bias_correction", "ignores bias_correction",
     solution_with(NB, "ewma", "v / (1 - beta**t) if bias_correction else v", "v"), "bias correction is missing"),
    ("test_ewma_bias_correction", "corrects the state, not the output (compounding)", """
def ewma(x, beta, bias_correction=False):
    x = np.asarray(x, dtype=float); out = np.zeros(len(x)); v = 0.0
    for t in range(1, len(x) + 1):
        v = beta * v + (1 - beta) * x[t - 1]
        if bias_correction:
            v = v / (1 - beta**t)
        out[t - 1] = v
    return out
""", "the correction compounds"),
    ("test_ewma_bias_correction", "divides everything by the last step's 1 - beta**n", """
def ewma(x, beta, bias_correction=False):
    x = np.asarray(x, dtype=float); out = np.zeros(len(x)); v = 0.0
    for t in range(1, len(x) + 1):
        v = beta * v + (1 - beta) * x[t - 1]; out[t - 1] = v
    return out / (1 - beta**len(x)) if bias_correction else out
""", "each entry t - 1 needs its own"),
    ("test_ewma_bias_correction", "t from 0 with Python floats (ZeroDivisionError)", """
def ewma(x, beta, bias_correction=False):
    v, out = 0.0, []
    for t, x_t in enumerate(list(map(float, x))):
        v = beta * v + (1 - beta) * x_t
        out.append(v / (1 - beta**t) if bias_correction else v)
    return np.array(out)
""", "count t from 1"),
    ("test_ewma_bias_correction", "a wrong correction on top of a wrong plain average",
     solution_with(NB, "ewma", "beta * v + (1 - beta) * x[t - 1]", "(1 - beta) * v + beta * x[t - 1]").replace(
         "v / (1 - beta**t)", "v / (1 - beta**(t + 1))"),
     "is wrong too: fix it first", {"also_fails": {"test_ewma"}}),
    ("test_ewma_weights", "newest point first",
     solution_with(NB, "ewma_weights", "np.arange(t - 1, -1, -1)", "np.arange(t)"), "the order is reversed"),
    ("test_ewma_weights", "forgets the factor (1 - beta)",
     solution_with(NB, "ewma_weights", "(1 - beta) * beta ** ages", "beta ** ages"), "the factor (1 - beta) is missing"),
    ("test_ewma_weights", "ages one step too old",
     solution_with(NB, "ewma_weights", "np.arange(t - 1, -1, -1)", "np.arange(t, 0, -1)"), "the exponent is one too high"),
    ("test_ewma_weights", "ignores bias_correction",
     solution_with(NB, "ewma_weights", "if bias_correction and t > 0:", "if False:"), "bias correction is missing"),
    ("test_ewma_weights", "corrects with 1 - beta**(t + 1)",
     solution_with(NB, "ewma_weights", "weights / (1 - beta**t)", "weights / (1 - beta**(t + 1))"), "1 - beta**(t + 1)"),
    ("test_steps_to_forget", "stops at equality (<= instead of <)",
     solution_with(NB, "steps_to_forget", "while weight >= fraction:", "while weight > fraction:"), "not strictly below"),
    ("test_steps_to_forget", "compares the weight (1 - beta) beta**k", """
def steps_to_forget(beta, fraction=np.exp(-1)):
    k = 0
    while (1 - beta) * beta**k >= fraction:
        k += 1
    return k
""", "not the weight (1 - beta) * beta**k"),
    ("test_steps_to_forget", "returns the rule of thumb 1/(1 - beta)",
     "def steps_to_forget(beta, fraction=np.exp(-1)):\n    return int(round(1 / (1 - beta)))\n", "only the rule of thumb"),
    ("test_steps_to_forget", "returns a float from the log formula",
     "def steps_to_forget(beta, fraction=np.exp(-1)):\n    return np.floor(np.log(fraction) / np.log(beta)) + 1\n", "expected an int"),
    ("test_steps_to_forget", "counts one step too many",
     solution_with(NB, "steps_to_forget", "return k", "return k + 1"), None),
    # ---- Exercise 4: ewma_lag, a prediction (the usual wrong answers)
    ("test_ewma_lag", "the effective window 1/(1 - beta) instead of the lag",
     "def ewma_lag(beta):\n    return 1 / (1 - beta)\n", "is the effective window"),
    ("test_ewma_lag", "the memory 1/(-ln beta) of section 4",
     "def ewma_lag(beta):\n    return -1 / np.log(beta)\n", "1/(-ln beta)"),
    ("test_ewma_lag", "beta / (1 + beta)",
     "def ewma_lag(beta):\n    return beta / (1 + beta)\n", "beta / (1 + beta) is not the lag"),
    ("test_ewma_lag", "the ratio upside down, (1 - beta) / beta",
     "def ewma_lag(beta):\n    return (1 - beta) / beta\n", "so it lags MORE"),
    ("test_ewma_lag", "sum of j beta**j without the weights' factor (1 - beta)",
     "def ewma_lag(beta):\n    return beta / (1 - beta) ** 2\n", "without the factor (1 - beta)"),
    ("test_ewma_lag", "the lag as a negative number (the average is behind)",
     "def ewma_lag(beta):\n    return -beta / (1 - beta)\n", "the sign is wrong"),
    ("test_ewma_lag", "rounded to whole steps",
     "def ewma_lag(beta):\n    return round(beta / (1 - beta))\n", "rounded the lag to a whole number"),
    ("test_ewma_lag", "rounded up to whole steps",
     "import math\ndef ewma_lag(beta):\n    return math.ceil(beta / (1 - beta))\n", "rounded the lag up"),
    ("test_ewma_lag", "Hint 1's experiment returned as the answer (a 2000-step ramp: too short for beta = 0.999)", """
def ewma_lag(beta):
    ramp = np.arange(1.0, 2001.0)
    v, out = 0.0, np.zeros(len(ramp))
    for t, x_t in enumerate(ramp):
        v = beta * v + (1 - beta) * x_t
        out[t] = v
    return float(ramp[-1] - out[-1])
""", "still too small"),
    ("test_ewma_lag", "measured on a ramp too short for the start-up to fade", """
def ewma_lag(beta):
    v = 0.0
    for t in range(1, 41):
        v = beta * v + (1 - beta) * t
    return 40 - v
""", None),
    ("test_ewma_update", "state not updated",
     solution_with(NB, "ewma_update", '    state["step"], state["v"] = t, v\n', ""), "the state is not carried over"),
    ("test_ewma_update", "stores the corrected value in the state (compounding)", """
def ewma_update(state, x, beta, bias_correction=False):
    t = state.get("step", 0) + 1
    v = beta * state.get("v", 0.0) + (1 - beta) * x
    if bias_correction:
        v = v / (1 - beta**t)
    state["step"], state["v"] = t, v
    return v, state
""", "the correction compounds"),
    ("test_ewma_update", "bias correction with t starting at 0", """
def ewma_update(state, x, beta, bias_correction=False):
    t = state.get("step", 0)
    v = beta * state.get("v", 0.0) + (1 - beta) * x
    state["step"], state["v"] = t + 1, v
    return (v / (1 - beta**t) if bias_correction else v), state
""", "count t from 1"),
    ("test_ewma_update", "ignores bias_correction",
     solution_with(NB, "ewma_update", "(v / (1 - beta**t) if bias_correction else v)", "v"), "bias correction is missing"),
    ("test_ewma_update", "keeps the average in a global variable", """
_v, _t = 0.0, 0
def ewma_update(state, x, beta, bias_correction=False):
    global _v, _t
    _t += 1; _v = beta * _v + (1 - beta) * x
    state["step"], state["v"] = _t, _v
    return (_v / (1 - beta**_t) if bias_correction else _v), state
""", None),
    ("test_ewma_update", "counts in state['t'], not state['step']",
     solution_with(NB, "ewma_update", 'state["step"], state["v"] = t, v', 'state["t"], state["v"] = t, v').replace(
         'state.get("step", 0)', 'state.get("t", 0)'),
     'state["step"]'),
    ("test_ewma_update", "returns only the value", """
def ewma_update(state, x, beta, bias_correction=False):
    t = state.get("step", 0) + 1
    v = beta * state.get("v", 0.0) + (1 - beta) * x
    state["step"], state["v"] = t, v
    return v / (1 - beta**t) if bias_correction else v
""", "expected a tuple (value, state)"),
    ("test_ewma_update", "scales the caller's array in place", """
def ewma_update(state, x, beta, bias_correction=False):
    t = state.get("step", 0) + 1
    x *= 1 - beta
    v = beta * state.get("v", 0.0) + x
    state["step"], state["v"] = t, v
    return (v / (1 - beta**t) if bias_correction else v), state
""", "modified its input"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 12)
