"""course_lib.landscapes: analytic gradients against central differences written here and
against torch autograd, stationary points, the quadratic's Hessian against numpy, closed
forms, vectorised shapes and the behaviour of gradient descent the notebooks rely on."""

import math
import zlib

import numpy as np
import pytest

from course_lib.landscapes import (
    LANDSCAPES,
    IllConditionedQuadratic,
    Rosenbrock,
    Saddle,
    TwoWells,
    get_landscape,
)

# The shared instances plus variants with other parameters, so no default value is baked in.
VARIANTS = {
    **LANDSCAPES,
    "quadratic_rotated": IllConditionedQuadratic(a=2.0, b=7.0, angle=0.6),
    "quadratic_kappa50": IllConditionedQuadratic.from_condition_number(50.0, smallest=0.3, angle=-1.1),
    "rosenbrock_a2_b10": Rosenbrock(a=2.0, b=10.0),
    "rosenbrock_neg": Rosenbrock(a=-0.5, b=3.0),
    "saddle_a05_b3": Saddle(a=0.5, b=3.0),
    "two_wells_sheared": TwoWells(p=-2.0, q=0.5, r=1.0, k=0.7, m=0.8),
}


def central_difference(f, w, h=1e-5):
    """Numerical gradient of a scalar function of a point of shape (2,)."""
    g = np.zeros(2)
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        g[i] = (f(w + e) - f(w - e)) / (2 * h)
    return g


def numerical_hessian(grad, w, h=1e-5):
    """Central differences of the gradient: column j = d grad / d w_j."""
    H = np.zeros((2, 2))
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        H[:, j] = (grad(w + e) - grad(w - e)) / (2 * h)
    return 0.5 * (H + H.T)


def random_points(landscape, n, seed):
    """Points in the plot window widened by 20% on each side."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = landscape.bounds
    wx, wy = x1 - x0, y1 - y0
    xs = rng.uniform(x0 - 0.2 * wx, x1 + 0.2 * wx, n)
    ys = rng.uniform(y0 - 0.2 * wy, y1 + 0.2 * wy, n)
    return np.stack([xs, ys], axis=1)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gradient_matches_central_differences(name):
    land = VARIANTS[name]
    for i, w in enumerate(random_points(land, 60, seed=zlib.crc32(name.encode()))):
        numeric = central_difference(lambda v: float(land.f(v)), w)
        analytic = land.grad(w)
        scale = max(1.0, float(np.abs(numeric).max()))
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-6 * scale,
                                   err_msg=f"{name} at point {i}: {w}")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_gradient_matches_torch_autograd(name):
    torch = pytest.importorskip("torch")
    land = VARIANTS[name]
    pts = random_points(land, 25, seed=7)
    w = torch.tensor(pts, dtype=torch.float64, requires_grad=True)
    land.f(w).sum().backward()
    np.testing.assert_allclose(land.grad(pts), w.grad.numpy(), rtol=1e-12, atol=1e-10)
    # the tensor path of grad gives a tensor with the same values
    g = land.grad(torch.tensor(pts))
    assert torch.is_tensor(g) and g.shape == (25, 2)
    np.testing.assert_allclose(g.numpy(), w.grad.numpy(), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_minima_and_saddles_are_what_they_claim(name):
    land = VARIANTS[name]
    for m in land.minima:
        np.testing.assert_allclose(land.grad(m), 0.0, atol=1e-12, err_msg=f"{name}: grad at minimum {m}")
        eig = np.linalg.eigvalsh(numerical_hessian(land.grad, m))
        assert eig.min() > 0, f"{name}: Hessian at listed minimum {m} is not positive definite: {eig}"
        # a ring of nearby points is higher
        angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        ring = m + 1e-3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        assert np.all(land.f(ring) > land.f(m))
    for s in land.saddles:
        np.testing.assert_allclose(land.grad(s), 0.0, atol=1e-12, err_msg=f"{name}: grad at saddle {s}")
        eig = np.linalg.eigvalsh(numerical_hessian(land.grad, s))
        assert eig.min() < 0 < eig.max(), f"{name}: Hessian at listed saddle {s} is not indefinite: {eig}"
    if land.minima:
        assert land.f_min == pytest.approx(min(float(land.f(m)) for m in land.minima))
    else:
        assert land.f_min is None


@pytest.mark.parametrize("name", sorted(LANDSCAPES))
def test_shared_instances_have_consistent_metadata(name):
    land = LANDSCAPES[name]
    assert land.name == name and get_landscape(name) is land
    (x0, x1), (y0, y1) = land.bounds
    for p in [land.default_start, *land.minima, *land.saddles]:
        assert p.shape == (2,) and x0 <= p[0] <= x1 and y0 <= p[1] <= y1, f"{name}: {p} outside {land.bounds}"
    with pytest.raises(ValueError):
        land.default_start[0] = 3.0  # shared across notebooks: read-only
    for m in land.minima:
        with pytest.raises(ValueError):
            m[0] = 3.0


def test_get_landscape_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as err:
        get_landscape("himmelblau")
    for name in LANDSCAPES:
        assert name in str(err.value)


@pytest.mark.parametrize("a,b,angle", [(1.0, 20.0, 0.0), (3.0, 0.5, 0.0), (2.0, 7.0, 0.6), (0.1, 100.0, -2.3)])
def test_quadratic_hessian_and_condition_number(a, b, angle):
    land = IllConditionedQuadratic(a=a, b=b, angle=angle)
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, -s], [s, c]])
    A = R @ np.diag([a, b]) @ R.T
    np.testing.assert_allclose(land.hessian, A, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(land.hessian), sorted([a, b]), rtol=1e-12)
    assert land.condition_number == pytest.approx(np.linalg.cond(A), rel=1e-10)
    w = random_points(land, 40, seed=3)
    np.testing.assert_allclose(land.f(w), 0.5 * np.einsum("ni,ij,nj->n", w, A, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(land.grad(w), w @ A.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(numerical_hessian(land.grad, w[0]), A, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("kappa", [1.0, 4.0, 37.5, 1000.0])
def test_quadratic_from_condition_number(kappa):
    land = IllConditionedQuadratic.from_condition_number(kappa, smallest=0.5, angle=0.3)
    assert np.linalg.cond(land.hessian) == pytest.approx(kappa, rel=1e-9)
    assert np.linalg.eigvalsh(land.hessian).min() == pytest.approx(0.5, rel=1e-9)


def test_closed_form_values():
    # textbook values of Rosenbrock(1, 100)
    rb = Rosenbrock()
    assert rb.f(np.array([-1.2, 1.0])) == pytest.approx(24.2)
    assert rb.f(np.array([0.0, 0.0])) == pytest.approx(1.0)
    assert rb.f(np.array([1.0, 1.0])) == 0.0
    assert IllConditionedQuadratic(1.0, 20.0).f(np.array([1.0, 1.0])) == pytest.approx(10.5)
    assert Saddle(a=2.0, b=0.5).f(np.array([1.0, 2.0])) == pytest.approx(2.0 - 2.0)
    # the x-derivative of TwoWells on its valley floor y = m x is the cubic (x-p)(x-q)(x-r)
    tw = TwoWells(p=-1.5, q=0.2, r=1.1, k=3.0, m=-0.4)
    xs = np.linspace(-2, 2, 9)
    grads = tw.grad(np.stack([xs, -0.4 * xs], axis=1))
    np.testing.assert_allclose(grads[:, 0], (xs + 1.5) * (xs - 0.2) * (xs - 1.1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[:, 1], 0.0, atol=1e-12)


def test_two_wells_one_shallow_one_deep():
    tw = LANDSCAPES["two_wells"]
    shallow, deep = tw.minima
    assert tw.f(shallow) > tw.f(deep) + 0.5
    assert tw.f_min == pytest.approx(float(tw.f(deep)))
    # brute force: the lowest grid point is next to the deep minimum, the lowest left of
    # the saddle is next to the shallow one
    xs = np.linspace(*tw.bounds[0], 451)
    ys = np.linspace(*tw.bounds[1], 301)
    W = np.stack(np.meshgrid(xs, ys), axis=-1)
    Z = tw.f(W)
    best = W.reshape(-1, 2)[np.argmin(Z)]
    assert np.linalg.norm(best - deep) < 0.02
    left = W[..., 0] < tw.saddles[0][0]
    best_left = W[left][np.argmin(Z[left])]
    assert np.linalg.norm(best_left - shallow) < 0.02


def _gd(land, w0, lr, n):
    w = np.array(w0, dtype=float)
    for _ in range(n):
        w = w - lr * land.grad(w)
    return w


def test_the_start_decides_the_well():
    tw = LANDSCAPES["two_wells"]
    shallow, deep = tw.minima
    np.testing.assert_allclose(_gd(tw, tw.default_start, 0.05, 600), shallow, atol=1e-6)
    np.testing.assert_allclose(_gd(tw, [0.5, -1.0], 0.05, 600), deep, atol=1e-6)


def test_gd_stalls_on_the_stable_manifold_of_the_saddle():
    sd = LANDSCAPES["saddle"]
    assert sd.default_start[1] == 0.0
    w = _gd(sd, sd.default_start, 0.1, 200)
    assert w[1] == 0.0 and abs(w[0]) < 1e-12  # converged to the saddle, not a minimum
    escaped = _gd(sd, sd.default_start + np.array([0.0, 1e-6]), 0.1, 200)
    assert abs(escaped[1]) > 1.0


def test_vectorised_shapes():
    rng = np.random.default_rng(0)
    for name, land in VARIANTS.items():
        grid = rng.normal(size=(4, 5, 2))
        assert land.f(grid).shape == (4, 5), name
        assert land.grad(grid).shape == (4, 5, 2), name
        # one point gives a scalar, and a batch gives the same values point by point
        assert np.ndim(land.f(grid[0, 0])) == 0
        assert land.grad(grid[0, 0]).shape == (2,)
        flat = grid.reshape(-1, 2)
        np.testing.assert_allclose(land.f(grid).reshape(-1), [land.f(p) for p in flat], rtol=1e-14)
        np.testing.assert_allclose(land.grad(grid).reshape(-1, 2), [land.grad(p) for p in flat], rtol=1e-14)
    assert LANDSCAPES["rosenbrock"].f([1.0, 1.0]) == 0.0  # plain lists work


def test_inputs_are_not_modified():
    w = np.array([[0.3, -0.7], [1.1, 0.2]])
    before = w.copy()
    for land in VARIANTS.values():
        land.f(w)
        land.grad(w)
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((4, 3)), np.float64(1.0), np.zeros((2, 1))])
def test_wrong_shape_raises_value_error(bad):
    land = LANDSCAPES["quadratic"]
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        land.f(bad)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        land.grad(bad)


@pytest.mark.parametrize("make", [
    lambda: IllConditionedQuadratic(a=0.0),
    lambda: IllConditionedQuadratic(a=1.0, b=-2.0),
    lambda: IllConditionedQuadratic.from_condition_number(0.5),
    lambda: Rosenbrock(b=0.0),
    lambda: Saddle(a=-1.0),
    lambda: TwoWells(p=1.0, q=0.0, r=2.0),
    lambda: TwoWells(k=0.0),
])
def test_invalid_parameters_raise(make):
    with pytest.raises(ValueError):
        make()
