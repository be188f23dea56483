"""Notebook 11: wrong answers students write, each of which must fail its tests (and lose the points).

Where the mistake can be recognized, the failure message must name it.
"""


from mistakes import catalogue_tests, grade_in_process, later_cell_output, solution_of, solution_with
from notebook_text import ROOT

NB = ROOT / "notebooks" / "11_activations_init" / "11_activations_init.ipynb"


def solution(grade_id):
    return solution_of(NB, grade_id)


def edit(grade_id, old, new):
    return solution_with(NB, grade_id, old, new)


ACT = solution("activate") + "\n"
FANS = solution("fan_in_fan_out") + "\n"

MISTAKES = [
    # Exercise 1: activate
    ("test_activate", "sigmoid as exp(x) / (1 + exp(x)) (overflows at 1000)",
     edit("activate", "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))", "return np.exp(x) / (1.0 + np.exp(x))"), "overflows"),
    ("test_activate", "tanh from its exponential formula (overflows)",
     edit("activate", "return np.tanh(x)", "return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))"), "overflows"),
    ("test_activate", "sigmoid with the sign of the exponent flipped",
     edit("activate", "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))", "return np.where(x >= 0, e / (1.0 + e), 1.0 / (1.0 + e))"), None),
    ("test_activate", "ELU's default alpha taken as 0.01",
     edit("activate", 'alpha = 0.01 if kind == "leaky_relu" else 1.0', "alpha = 0.01"), "default alpha is 1.0"),
    ("test_activate", "ELU without the - 1",
     edit("activate", "alpha * np.expm1(np.minimum(x, 0.0))", "alpha * np.exp(np.minimum(x, 0.0))"), "left out the - 1"),
    ("test_activate", "leaky ReLU written as ReLU",
     edit("activate", "np.where(x > 0, x, alpha * x)", "np.maximum(x, 0.0)"), "you returned ReLU"),
    ("test_activate", "leaky ReLU ignores alpha",
     edit("activate", "np.where(x > 0, x, alpha * x)", "np.where(x > 0, x, 0.01 * x)"), "ignored the argument alpha"),
    ("test_activate", "ReLU in place",
     edit("activate", "return np.maximum(x, 0.0)", "return np.maximum(x, 0.0, out=x)"), "in place"),
    ("test_activate", "an unknown kind is not refused",
     edit("activate", '        raise ValueError(f"unknown activation kind {kind!r}")', "        pass"), "should raise a ValueError"),
    # Exercise 2: activation_grad (derive)
    ("test_activation_grad", "sigmoid' = s(1 + s)", ACT + edit("activation_grad", "s * (1.0 - s)", "s * (1.0 + s)"), "check the sign"),
    ("test_activation_grad", "sigmoid' = s (the activation itself)", ACT + edit("activation_grad", "return s * (1.0 - s)", "return s"),
     "the activation itself"),
    ("test_activation_grad", "sigmoid' from exp(x) / (1 + exp(x)) (NaN at 1000)",
     ACT + edit("activation_grad", 's = activate(x, "sigmoid")', "s = np.exp(x) / (1.0 + np.exp(x))"), "NaN or inf"),
    ("test_activation_grad", "tanh' = 1 - x**2", ACT + edit("activation_grad", "1.0 - np.tanh(x) ** 2", "1.0 - x ** 2"),
     "with x where tanh(x) belongs"),
    ("test_activation_grad", "tanh' = 1 - tanh(x)", ACT + edit("activation_grad", "1.0 - np.tanh(x) ** 2", "1.0 - np.tanh(x)"),
     "a square is missing"),
    ("test_activation_grad", "ReLU' = 1 at x = 0", ACT + edit("activation_grad", "np.where(x > 0, 1.0, 0.0)", "np.where(x >= 0, 1.0, 0.0)"),
     "at x = 0 torch's autograd gives 0 for relu, not 1"),
    ("test_activation_grad", "ReLU' = 1/2 at x = 0",
     ACT + edit("activation_grad", "np.where(x > 0, 1.0, 0.0)", "np.where(x > 0, 1.0, np.where(x == 0, 0.5, 0.0))"),
     "at x = 0 torch's autograd gives 0 for relu, not 0.5"),
    ("test_activation_grad", "leaky ReLU' = 1 at x = 0", ACT + edit("activation_grad", "np.where(x > 0, 1.0, alpha)", "np.where(x >= 0, 1.0, alpha)"),
     "at x = 0 torch's autograd gives 0.01 for leaky_relu"),
    ("test_activation_grad", "leaky ReLU' = alpha * x for x < 0",
     ACT + edit("activation_grad", "np.where(x > 0, 1.0, alpha)", "np.where(x > 0, 1.0, alpha * x)"), "the value of leaky_relu, not its slope"),
    ("test_activation_grad", "leaky ReLU' ignores alpha",
     ACT + edit("activation_grad", "np.where(x > 0, 1.0, alpha)", "np.where(x > 0, 1.0, 0.01)"), "ignored the argument alpha"),
    ("test_activation_grad", "ELU' = e^x (alpha left out)",
     ACT + edit("activation_grad", "alpha * np.exp(np.minimum(x, 0.0))", "np.exp(np.minimum(x, 0.0))"), "scales with alpha"),
    ("test_activation_grad", "ELU' = alpha (e^x - 1) (the value, not the slope)",
     ACT + edit("activation_grad", "alpha * np.exp(np.minimum(x, 0.0))", "alpha * np.expm1(np.minimum(x, 0.0))"), "the value of elu, not its slope"),
    ("test_activation_grad", "ELU' = 1 at x = 0",
     ACT + edit("activation_grad", "np.where(x > 0, 1.0, alpha * np.exp", "np.where(x >= 0, 1.0, alpha * np.exp"), "at x = 0 torch's autograd gives 0.5 for elu, not 1"),
    # Exercise 3: fan_in_fan_out
    ("test_fan_in_fan_out", "fans swapped (NumPy's (in, out) layout)",
     edit("fan_in_fan_out", "return shape[1] * receptive, shape[0] * receptive", "return shape[0] * receptive, shape[1] * receptive"), "swapped"),
    ("test_fan_in_fan_out", "receptive field left out",
     edit("fan_in_fan_out", "receptive *= s", "pass"), "include the receptive field"),
    ("test_fan_in_fan_out", "receptive field only in the fan-in",
     edit("fan_in_fan_out", "return shape[1] * receptive, shape[0] * receptive", "return shape[1] * receptive, shape[0]"), "multiplies the fan-out too"),
    ("test_fan_in_fan_out", "receptive field only in the fan-out",
     edit("fan_in_fan_out", "return shape[1] * receptive, shape[0] * receptive", "return shape[1], shape[0] * receptive"), "multiplies the fan-in too"),
    ("test_fan_in_fan_out", "fans as floats",
     edit("fan_in_fan_out", "return shape[1] * receptive, shape[0] * receptive", "return float(shape[1] * receptive), float(shape[0] * receptive)"),
     "integers"),
    ("test_fan_in_fan_out", "a 1-D shape is not refused",
     edit("fan_in_fan_out", '        raise ValueError(f"a weight needs at least 2 dimensions, got shape {shape}")', "        pass"), "should raise a ValueError"),
    # Exercise 4: init_weights
    ("test_init_weights", "He with the fan-out",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))", "std = np.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_out))"),
     "not the fan-out"),
    ("test_init_weights", "He without the 2",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))", "std = np.sqrt(1.0 / ((1.0 + negative_slope ** 2) * fan_in))"),
     "the factor 2 is missing"),
    ("test_init_weights", "He ignores negative_slope",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / ((1.0 + negative_slope ** 2) * fan_in))", "std = np.sqrt(2.0 / fan_in)"), "ignored negative_slope"),
    ("test_init_weights", "He with (1 + a) for (1 + a**2)",
     FANS + edit("init_weights", "(1.0 + negative_slope ** 2)", "(1.0 + negative_slope)"), "the slope enters squared"),
    ("test_init_weights", "Xavier as 1 / fan_in (LeCun)",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / (fan_in + fan_out))", "std = np.sqrt(1.0 / fan_in)"), "LeCun"),
    ("test_init_weights", "Xavier with fan_out where fan_in was meant (2 / fan_out)",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / (fan_in + fan_out))", "std = np.sqrt(2.0 / fan_out)"), "not 2 / fan_out"),
    ("test_init_weights", "Xavier without the 2",
     FANS + edit("init_weights", "std = np.sqrt(2.0 / (fan_in + fan_out))", "std = np.sqrt(1.0 / (fan_in + fan_out))"), "the factor 2 is missing"),
    ("test_init_weights", "the variance passed as the standard deviation",
     FANS + edit("init_weights", "return rng.normal(0.0, std, size=tuple(shape))", "return rng.normal(0.0, std ** 2, size=tuple(shape))"),
     "the variance as the standard deviation"),
    ("test_init_weights", "uniform bound = std (no sqrt 3)",
     FANS + edit("init_weights", "bound = np.sqrt(3.0) * std", "bound = std"), "sqrt(3) times the standard deviation"),
    ("test_init_weights", "uniform on (0, b)",
     FANS + edit("init_weights", "rng.uniform(-bound, bound, size=tuple(shape))", "rng.uniform(0.0, bound, size=tuple(shape))"), "not centered at 0"),
    ("test_init_weights", "uniform on (0, 1) (the seed's claim)",
     FANS + edit("init_weights", "rng.uniform(-bound, bound, size=tuple(shape))", "rng.uniform(0.0, 1.0, size=tuple(shape))"), "never on (0, b) or (0, 1)"),
    ("test_init_weights", "np.random instead of the rng given",
     FANS + edit("init_weights", "return rng.normal(0.0, std, size=tuple(shape))", "return np.random.normal(0.0, std, size=tuple(shape))"),
     "from the rng you are given"),
    ("test_init_weights", "distribution ignored (always Gaussian)",
     FANS + edit("init_weights", 'if distribution == "normal":', "if True:"), "looks Gaussian"),
    ("test_init_weights", "a conv weight's fans without the kernel (fans computed inline)",
     edit("init_weights", "fan_in, fan_out = fan_in_fan_out(shape)", "fan_in, fan_out = shape[1], shape[0]"), "include the kernel size"),
    # Exercise 5: predicted_rms (predict)
    ("test_predicted_rms", "the activation's factor left out",
     edit("predicted_rms", "c ** ((depth - 1) / 2.0)", "1.0"), "you left its factor out"),
    ("test_predicted_rms", "one factor per layer (depth, not depth - 1)",
     edit("predicted_rms", "c ** ((depth - 1) / 2.0)", "c ** (depth / 2.0)"), "the first layer sees the input itself"),
    ("test_predicted_rms", "the factor applied to the rms (1/2 instead of 1/sqrt 2)",
     edit("predicted_rms", "c ** ((depth - 1) / 2.0)", "c ** (depth - 1)"), "applies to the mean square"),
    ("test_predicted_rms", "gain squared in the rms",
     edit("predicted_rms", "gain ** depth", "gain ** (2 * depth)"), "not gain**2"),
    ("test_predicted_rms", "input_rms ignored",
     edit("predicted_rms", "input_rms * gain ** depth", "gain ** depth"), "you ignored input_rms"),
    ("test_predicted_rms", "the mean square returned, not the rms",
     edit("predicted_rms", "return float(input_rms * gain ** depth * c ** ((depth - 1) / 2.0))",
          "return float((input_rms * gain ** depth * c ** ((depth - 1) / 2.0)) ** 2)"), "the mean square, not its root"),
    ("test_predicted_rms", "leaky ReLU treated as ReLU",
     edit("predicted_rms", "(1.0 + negative_slope ** 2) / 2.0", "0.5"), "you treated leaky ReLU as ReLU"),
    ("test_predicted_rms", "leaky ReLU with (1 + a) / 2",
     edit("predicted_rms", "(1.0 + negative_slope ** 2) / 2.0", "(1.0 + negative_slope) / 2.0"), "the slope enters squared"),
    ("test_predicted_rms", "a ReLU factor of 1/4 (the slope's square over half the inputs, twice)",
     edit("predicted_rms", '"relu": 0.5', '"relu": 0.25'), None),
    # Exercise 6: standardize
    ("test_standardize", "statistics fitted on the test set",
     edit("standardize", "mean = X_train.mean(axis=axes, keepdims=True)\n    std = X_train.std(axis=axes, keepdims=True)",
          "mean = X_other.mean(axis=axes, keepdims=True)\n    std = X_other.std(axis=axes, keepdims=True)"), "fitted them on X_other"),
    ("test_standardize", "statistics fitted on train and test together",
     edit("standardize", "mean = X_train.mean(axis=axes, keepdims=True)\n    std = X_train.std(axis=axes, keepdims=True)",
          "both = np.concatenate([X_train, X_other])\n    mean = both.mean(axis=axes, keepdims=True)\n    std = both.std(axis=axes, keepdims=True)"),
     "both sets together"),
    ("test_standardize", "std with ddof=1",
     edit("standardize", "std = X_train.std(axis=axes, keepdims=True)", "std = X_train.std(axis=axes, ddof=1, keepdims=True)"), "not N - 1"),
    ("test_standardize", "each example standardized over its features", """
def standardize(X_train, X_other, channel_axis=None):
    rows = lambda X: (X - X.mean(axis=1, keepdims=True)) / np.where(X.std(axis=1, keepdims=True) > 0, X.std(axis=1, keepdims=True), 1.0)
    return rows(X_train), rows(X_other)
""", "each example (row)"),
    ("test_standardize", "a constant feature divides by 0",
     edit("standardize", "std = np.where(std > 0, std, 1.0)", "pass"), "constant on the training set"),
    ("test_standardize", "images: one statistic per pixel",
     edit("standardize", "axes = tuple(a for a in range(X_train.ndim) if a != channel)", "axes = (0,)"), "you computed one per pixel"),
    ("test_standardize", "images: one statistic for all channels",
     edit("standardize", "axes = tuple(a for a in range(X_train.ndim) if a != channel)", "axes = tuple(range(X_train.ndim))"),
     "one for all channels together"),
    ("test_standardize", "a negative channel_axis not handled",
     edit("standardize", "channel = channel_axis % X_train.ndim", "channel = channel_axis"), None),
    ("test_standardize", "X_train changed in place", """
def standardize(X_train, X_other, channel_axis=None):
    axes = (0,) if channel_axis is None else tuple(a for a in range(X_train.ndim) if a != channel_axis % X_train.ndim)
    mean = X_train.mean(axis=axes, keepdims=True)
    std = X_train.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    Z_other = (X_other - mean) / std
    X_train -= mean
    X_train /= std
    return X_train, Z_other
""", "in place"),
]


test_every_mistake_loses_the_points, test_the_reference_answers_pass = catalogue_tests(NB, MISTAKES, 15)

# One mistake costs one exercise: a wrong earlier function costs only its own exercise, and the later
# exercise's passing line says what it was graded with.
ONE_MISTAKE_SPARED = [
    (edit("activate", "alpha * np.expm1(np.minimum(x, 0.0))", "alpha * np.exp(np.minimum(x, 0.0))"), "test_activate", "test_activation_grad",
     "graded with a correct activate"),
    (edit("activate", "return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))", "return 1 / (1 + np.exp(x))"), "test_activate",
     "test_activation_grad", "graded with a correct activate"),
    (edit("fan_in_fan_out", "return shape[1] * receptive, shape[0] * receptive", "return shape[0] * receptive, shape[1] * receptive"),
     "test_fan_in_fan_out", "test_init_weights", "graded with a correct fan_in_fan_out"),
]


def _passing_output(answer, later):
    return later_cell_output(NB, answer, later)


import pytest  # noqa: E402


@pytest.mark.parametrize("answer,own,later,phrase", ONE_MISTAKE_SPARED, ids=["activate-elu", "activate-sigmoid", "fans"])
def test_a_wrong_earlier_function_costs_only_its_own_exercise(answer, own, later, phrase):
    _, _, results = grade_in_process(NB, answer)
    assert {g for g, m in results.items() if m} == {own}, results
    out = _passing_output(answer, later)
    assert phrase in out and "fix it, then run this test again" in out, out


def test_a_later_exercise_wrong_in_itself_says_to_fix_the_earlier_one_too():
    answer = (edit("fan_in_fan_out", "receptive *= s", "pass") + "\n"
              + edit("init_weights", "bound = np.sqrt(3.0) * std", "bound = std"))
    _, _, results = grade_in_process(NB, answer)
    assert {g for g, m in results.items() if m} == {"test_fan_in_fan_out", "test_init_weights"}, results
    assert "fix Exercise 3 as well" in results["test_init_weights"], results["test_init_weights"]
