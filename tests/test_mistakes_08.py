"""Notebook 08: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""

from mistakes import solution_of, catalogue_tests, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "08_batchnorm" / "08_batchnorm.ipynb"


def solution(grade_id):
    return solution_of(NB, grade_id)


UPDATE = solution("update_running_stats") + "\n"

MISTAKES = [
    # Exercise 1: batchnorm_train
    ("test_batchnorm_train", "normalizes with the unbiased variance",
     solution_with(NB, "batchnorm_train", "var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)"), "biased variance"),
    ("test_batchnorm_train", "eps outside the square root",
     solution_with(NB, "batchnorm_train", "np.sqrt(var + eps)", "(np.sqrt(var) + eps)"), "eps goes inside the square root"),
    ("test_batchnorm_train", "normalizes over the features instead of the batch",
     solution_with(NB, "batchnorm_train", "mean = x.mean(axis=0)\n    var = x.var(axis=0)",
                   "mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)"), "each feature (column) over the batch"),
    ("test_batchnorm_train", "normalizes over the features, without keepdims", """
def batchnorm_train(x, gamma, beta, eps=1e-5):
    x_hat = (x.T - x.mean(axis=1)) / np.sqrt(x.var(axis=1) + eps)
    return gamma * x_hat.T + beta
""", "each feature (column) over the batch"),
    ("test_batchnorm_train", "gamma and beta swapped",
     solution_with(NB, "batchnorm_train", "gamma * x_hat + beta", "beta * x_hat + gamma"), "swapped"),
    ("test_batchnorm_train", "forgets gamma and beta",
     solution_with(NB, "batchnorm_train", "gamma * x_hat + beta", "x_hat"), "not applied"),
    ("test_batchnorm_train", "ignores eps",
     solution_with(NB, "batchnorm_train", "np.sqrt(var + eps)", "np.sqrt(var + 1e-5)"), "ignored the argument eps"),
    ("test_batchnorm_train", "standardizes in place (changes x)", """
def batchnorm_train(x, gamma, beta, eps=1e-5):
    x -= x.mean(axis=0)
    x /= np.sqrt(x.var(axis=0) + eps)
    return gamma * x + beta
""", "modified its input"),
    # Exercise 2: update_running_stats
    ("test_update_running_stats", "biased variance in the running average",
     solution_with(NB, "update_running_stats", "x.var(axis=0, ddof=1)", "x.var(axis=0)"), "UNBIASED"),
    ("test_update_running_stats", "momentum convention reversed (0.9 on the new value)",
     solution_with(NB, "update_running_stats", "(1 - momentum) * old_mean + momentum * x.mean(axis=0)",
                   "momentum * old_mean + (1 - momentum) * x.mean(axis=0)").replace(
         "(1 - momentum) * old_var + momentum * x.var(axis=0, ddof=1)", "momentum * old_var + (1 - momentum) * x.var(axis=0, ddof=1)"),
     "momentum is reversed"),
    ("test_update_running_stats", "empty state starts with running variance 0",
     solution_with(NB, "update_running_stats", "np.ones(d)", "np.zeros(d)"), "starts with running variance 1"),
    ("test_update_running_stats", "restarts from 0 and 1 at every call",
     solution_with(NB, "update_running_stats", 'state.get("running_mean", np.zeros(d))', "np.zeros(d)").replace(
         'state.get("running_var", np.ones(d))', "np.ones(d)"), "started again"),
    ("test_update_running_stats", "fills a new dict instead of the caller's (state not updated)",
     solution_with(NB, "update_running_stats", "n, d = x.shape", "n, d = x.shape\n    state = dict(state)"), "Store the new averages"),
    # Exercise 3: batchnorm_forward
    ("test_batchnorm_forward", "eval mode still uses batch statistics",
     UPDATE + solution_with(NB, "batchnorm_forward", 'mean = state.get("running_mean", np.zeros(d))\n        var = state.get("running_var", np.ones(d))',
                   "mean, var = x.mean(axis=0), x.var(axis=0)"), "not with the batch's own"),
    ("test_batchnorm_forward", "eval mode updates the running statistics (always trains)",
     UPDATE + solution_with(NB, "batchnorm_forward", "if train:", "if True:"), "leave the running statistics unchanged"),
    ("test_batchnorm_forward", "eval mode updates the running statistics, then uses them",
     UPDATE + solution_with(NB, "batchnorm_forward", "        d = x.shape[1]\n", "        d = x.shape[1]\n        update_running_stats(state, x, momentum)\n"),
     "leave the running statistics unchanged"),
    ("test_batchnorm_forward", "training mode forgets to update the running statistics",
     UPDATE + solution_with(NB, "batchnorm_forward", "        update_running_stats(state, x, momentum)\n", ""), "update the running statistics"),
    ("test_batchnorm_forward", "momentum not passed on",
     UPDATE + solution_with(NB, "batchnorm_forward", "update_running_stats(state, x, momentum)", "update_running_stats(state, x)"), "ignored the argument momentum"),
    ("test_batchnorm_forward", "eval mode with an empty state uses variance 0",
     UPDATE + solution_with(NB, "batchnorm_forward", 'state.get("running_var", np.ones(d))', 'state.get("running_var", np.zeros(d))'), "empty state"),
    ("test_batchnorm_forward", "returns only out",
     UPDATE + solution_with(NB, "batchnorm_forward", "return out, cache", "return out"), "a tuple (out, cache)"),
    ("test_batchnorm_forward", "cache as a tuple, not the contract's dict",
     UPDATE + solution_with(NB, "batchnorm_forward", 'cache = {"x_hat": x_hat, "inv_std": inv_std, "gamma": gamma, "train": train}',
                            "cache = (x_hat, inv_std, gamma, train)"), "contract is a dict"),
    ("test_batchnorm_forward", "cache holds the standard deviation, not its inverse",
     UPDATE + solution_with(NB, "batchnorm_forward", '"inv_std": inv_std', '"inv_std": np.sqrt(var + eps)'), "inv_std = 1 / np.sqrt(var + eps)"),
    ("test_batchnorm_forward", "updates the running statistics inline, with the biased variance",
     UPDATE + solution_with(NB, "batchnorm_forward", "        update_running_stats(state, x, momentum)\n",
                            '        state["running_mean"] = (1 - momentum) * state.get("running_mean", 0.0) + momentum * mean\n'
                            '        state["running_var"] = (1 - momentum) * state.get("running_var", 1.0) + momentum * var\n'),
     "UNBIASED"),
    # Exercise 5: batchnorm_backward, the compact form (graded with a cache built by the test: no forward needed)
    ("test_batchnorm_backward", "backward missing the mean term",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout - x_hat * dgamma / n"), "term through mu is missing"),
    ("test_batchnorm_backward", "backward missing the variance term",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout - dbeta / n"), "term through sigma^2 is missing"),
    ("test_batchnorm_backward", "treats the batch statistics as constants",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout"), "treated them as constants"),
    ("test_batchnorm_backward", "dgamma summed over the wrong axis", """
def batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=1)
    if not cache["train"]:
        return gamma * inv_std * dout, dgamma, dbeta
    dx = gamma * inv_std * (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0))
    return dx, dgamma, dbeta
""", "Sum over the batch"),
    ("test_batchnorm_backward", "dgamma summed over the wrong axis, reused in dx (crashes)",
     solution_with(NB, "batchnorm_backward", "(dout * x_hat).sum(axis=0)", "(dout * x_hat).sum(axis=1)"), None),
    ("test_batchnorm_backward", "dbeta is the mean instead of the sum",
     solution_with(NB, "batchnorm_backward", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)"), "dbeta is N times too small"),
    ("test_batchnorm_backward", "dgamma forgets x_hat",
     solution_with(NB, "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = dout.sum(axis=0)"), "that is dbeta's value"),
    ("test_batchnorm_backward", "gamma missing in dx",
     solution_with(NB, "batchnorm_backward", "dx = gamma * inv_std * (dout", "dx = inv_std * (dout"), "factor gamma is missing"),
    ("test_batchnorm_backward", "training formula in evaluation mode",
     solution_with(NB, "batchnorm_backward", 'if cache["train"]:', "if True:"), "you used the training formula"),
    ("test_batchnorm_backward", "returns the gradients in the wrong order",
     solution_with(NB, "batchnorm_backward", "return dx, dgamma, dbeta", "return dx, dbeta, dgamma"), "order dx, dgamma, dbeta"),
    ("test_batchnorm_backward", "subtracts the two terms from dout in place", """
def batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    if cache["train"]:
        n = dout.shape[0]
        dout -= dbeta / n + x_hat * dgamma / n
    return gamma * inv_std * dout, dgamma, dbeta
""", "argument dout"),
    ("test_batchnorm_backward", "reads the old tuple cache (not the contract's dict)", """
def batchnorm_backward(dout, cache):
    x_hat, inv_std, gamma, train = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    if train:
        n = dout.shape[0]
        return gamma * inv_std * (dout - dbeta / n - x_hat * dgamma / n), dgamma, dbeta
    return gamma * inv_std * dout, dgamma, dbeta
""", None),
    ("test_batchnorm_backward", "divides by N - 1 in both corrections",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout - dbeta / (n - 1) - x_hat * dgamma / (n - 1)"),
     "divided by N - 1 where the batch mean and variance divide by N"),
    ("test_batchnorm_backward", "divides by N - 1 in the correction through the variance",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout - dbeta / n - x_hat * dgamma / (n - 1)"),
     "divided by N - 1 in the derivative of sigma^2"),
    ("test_batchnorm_backward", "corrections not divided by N",
     solution_with(NB, "batchnorm_backward", "dout - dbeta / n - x_hat * dgamma / n", "dout - dbeta - x_hat * dgamma"), "not divided by N"),
    ("test_batchnorm_backward", "inv_std missing in dx",
     solution_with(NB, "batchnorm_backward", "dx = gamma * inv_std * (dout", "dx = gamma * (dout"), "factor cache['inv_std']"),
    ("test_batchnorm_backward", "dbeta summed over the units (axis 1)",
     solution_with(NB, "batchnorm_backward", "dbeta = dout.sum(axis=0)\n", "dbeta = dout.sum(axis=0)\n    dbeta_out = dout.sum(axis=1)\n").replace(
         "return dx, dgamma, dbeta", "return dx, dgamma, dbeta_out"), "Sum over the batch"),
    ("test_batchnorm_backward", "dgamma is the mean instead of the sum",
     solution_with(NB, "batchnorm_backward", "(dout * x_hat).sum(axis=0)", "(dout * x_hat).sum(axis=0)\n    dgamma_out = dgamma / len(dout)").replace(
         "return dx, dgamma, dbeta", "return dx, dgamma_out, dbeta"), "dgamma is N times too small"),
    # Exercise 4: batchnorm_backward_staged, derived node by node (the usual wrong derivations)
    ("test_batchnorm_backward_staged", "dx_hat without gamma",
     solution_with(NB, "batchnorm_backward_staged", "dx_hat = dout * gamma", "dx_hat = dout"), "gamma is missing"),
    ("test_batchnorm_backward_staged", "dgamma without x_hat",
     solution_with(NB, "batchnorm_backward_staged", "dgamma = (dout * x_hat).sum(axis=0)", "dgamma = dout.sum(axis=0)"), "that is dbeta's value"),
    ("test_batchnorm_backward_staged", "dbeta summed over the wrong axis",
     solution_with(NB, "batchnorm_backward_staged", "dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=1)"), "sum over the batch (the rows), not over the units"),
    ("test_batchnorm_backward_staged", "dbeta is the mean instead of the sum",
     solution_with(NB, "batchnorm_backward_staged", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)"), "dbeta is N times too small"),
    ("test_batchnorm_backward_staged", "dvar without the factor 1/2",
     solution_with(NB, "batchnorm_backward_staged", "dvar = -0.5 * inv_std ** 3", "dvar = -inv_std ** 3"), "2 times too large"),
    ("test_batchnorm_backward_staged", "dvar with the sign flipped",
     solution_with(NB, "batchnorm_backward_staged", "dvar = -0.5 * inv_std ** 3", "dvar = 0.5 * inv_std ** 3"), "sign is flipped"),
    ("test_batchnorm_backward_staged", "dvar with the power -1/2 instead of -3/2",
     solution_with(NB, "batchnorm_backward_staged", "dvar = -0.5 * inv_std ** 3", "dvar = -0.5 * inv_std"), "the edge sigma^2 -> x_hat"),
    ("test_batchnorm_backward_staged", "dmu without the direct edge mu -> x_hat",
     solution_with(NB, "batchnorm_backward_staged", "dmu = -inv_std * dx_hat.sum(axis=0) - dvar", "dmu = -dvar"), "dmu is zero"),
    ("test_batchnorm_backward_staged", "dx forgets that mu depends on x",
     solution_with(NB, "batchnorm_backward_staged", " + dmu / n\n", "\n"), "term through mu is missing"),
    ("test_batchnorm_backward_staged", "dx without the 1/N of the mean and the variance",
     solution_with(NB, "batchnorm_backward_staged", " + dvar * 2.0 * xc / n + dmu / n", " + dvar * 2.0 * xc + dmu"), "not divided by N"),
    ("test_batchnorm_backward_staged", "dx forgets that sigma^2 depends on x",
     solution_with(NB, "batchnorm_backward_staged", " + dvar * 2.0 * xc / n + dmu / n", " + dmu / n"), "term through sigma^2 is missing"),
    ("test_batchnorm_backward_staged", "the evaluation-mode gradient in training mode",
     solution_with(NB, "batchnorm_backward_staged", "dx = dx_hat * inv_std + dvar * 2.0 * xc / n + dmu / n", "dx = dx_hat * inv_std"),
     "treated them as constants"),
    ("test_batchnorm_backward_staged", "divides by N - 1 in the derivative of the variance",
     solution_with(NB, "batchnorm_backward_staged", "dvar * 2.0 * xc / n", "dvar * 2.0 * xc / (n - 1)"), "derivative of sigma^2"),
    ("test_batchnorm_backward_staged", "divides by N - 1 in the derivatives of the mean and the variance",
     solution_with(NB, "batchnorm_backward_staged", "dvar * 2.0 * xc / n + dmu / n", "dvar * 2.0 * xc / (n - 1) + dmu / (n - 1)"),
     "where the batch mean and variance divide by N"),
    ("test_batchnorm_backward_staged", "recomputes the forward with the unbiased variance",
     solution_with(NB, "batchnorm_backward_staged", "var = (xc ** 2).mean(axis=0)", "var = (xc ** 2).sum(axis=0) / (n - 1)"), None),
    ("test_batchnorm_backward_staged", "returns a tuple instead of the dict",
     solution_with(NB, "batchnorm_backward_staged", 'return {"dbeta": dbeta, "dgamma": dgamma, "dx_hat": dx_hat, "dvar": dvar, "dmu": dmu, "dx": dx}',
                   "return dx, dgamma, dbeta"), "expected a dict"),
    ("test_batchnorm_backward_staged", "changes dout in place", solution_with(NB, "batchnorm_backward_staged", "dx_hat = dout * gamma",
                                                                              "dout *= gamma\n    dx_hat = dout"), "argument dout"),
    # Exercise 6: diagnose_activations (the usual wrong diagnoses)
    ("test_diagnose_activations", "vanishing and saturating swapped",
     solution_with(NB, "diagnose_activations", 'return "saturating"\n    if', 'return "vanishing"\n    if').replace(
         'return "vanishing"\n    return "normalized"', 'return "saturating"\n    return "normalized"'), "but the network is"),
    ("test_diagnose_activations", "one value at +-1 taken for saturation",
     solution_with(NB, "diagnose_activations", "np.mean(np.abs(last) > 0.99) > 0.1", "np.any(np.abs(last) > 0.99)"),
     "but the network is 'normalized'"),
    ("test_diagnose_activations", "always says normalized", "def diagnose_activations(activations):\n    return 'normalized'\n",
     "but the network is 'vanishing'"),
    ("test_diagnose_activations", "returns whether the network has BN",
     "def diagnose_activations(activations):\n    return bool(abs(np.std(activations[-1]) - 0.63) < 0.1)\n", "return one of the strings"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 17)


# Exercise 3 builds on Exercise 2: its test checks update_running_stats first and names it as the cause.
from mistakes import run_tests_against  # noqa: E402

REVERSED_UPDATE = solution_with(NB, "update_running_stats", "(1 - momentum) * old_mean + momentum * x.mean(axis=0)",
                                "momentum * old_mean + (1 - momentum) * x.mean(axis=0)") + "\n"
STUB_UPDATE = "def update_running_stats(state, x, momentum=0.1):\n    raise NotImplementedError()\n"


def test_a_wrong_update_running_stats_does_not_cost_batchnorm_forward():
    assert run_tests_against(NB, "test_batchnorm_forward", REVERSED_UPDATE + solution("batchnorm_forward")) is None


def test_forward_failing_beside_a_wrong_update_running_stats_says_to_fix_exercise_2_first():
    answer = REVERSED_UPDATE + solution_with(NB, "batchnorm_forward", "update_running_stats(state, x, momentum)", "update_running_stats(state, x)")
    message = run_tests_against(NB, "test_batchnorm_forward", answer)
    assert message and "update_running_stats (Exercise 2) fails its own test too" in message, message


def test_forward_calling_an_unwritten_update_running_stats_says_to_write_it_first():
    message = run_tests_against(NB, "test_batchnorm_forward", STUB_UPDATE + solution("batchnorm_forward"))
    assert message and "update_running_stats (Exercise 2), which is not written yet" in message, message


def test_an_unwritten_forward_is_reported_as_not_written_yet():
    stub = "def batchnorm_forward(x, gamma, beta, state, train=True, momentum=0.1, eps=1e-5):\n    raise NotImplementedError()\n"
    assert run_tests_against(NB, "test_batchnorm_forward", STUB_UPDATE + stub) == "NotImplementedError: "
