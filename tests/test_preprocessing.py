"""course_lib.solutions.preprocessing against scikit-learn's StandardScaler fitted on the training set."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from course_lib.solutions.preprocessing import standardize


def test_per_feature_matches_standard_scaler_with_a_constant_feature():
    rng = np.random.default_rng(0)
    Xtr, Xte = rng.normal(3, 2, size=(50, 4)), rng.normal(1, 5, size=(20, 4))
    Xtr[:, 2] = 7.0
    before = Xtr.copy(), Xte.copy()
    s = StandardScaler().fit(Xtr)
    Ztr, Zte = standardize(Xtr, Xte)
    np.testing.assert_allclose(Ztr, s.transform(Xtr), atol=1e-12)
    np.testing.assert_allclose(Zte, s.transform(Xte), atol=1e-12)
    np.testing.assert_array_equal(before[0], Xtr)
    np.testing.assert_array_equal(before[1], Xte)


@pytest.mark.parametrize("axis", [1, -1, 3])
def test_per_channel_matches_a_scaler_on_pixels(axis):
    rng = np.random.default_rng(1)
    shape = (6, 3, 5, 4) if axis == 1 else (6, 5, 4, 3)
    Xtr, Xte = rng.normal(2, 3, size=shape), rng.normal(size=(2,) + shape[1:])
    move = lambda X: np.moveaxis(X, axis, -1)
    C = Xtr.shape[axis]
    s = StandardScaler().fit(move(Xtr).reshape(-1, C))
    Ztr, Zte = standardize(Xtr, Xte, channel_axis=axis)
    np.testing.assert_allclose(move(Zte).reshape(-1, C), s.transform(move(Xte).reshape(-1, C)), atol=1e-12)
    np.testing.assert_allclose(move(Ztr).reshape(-1, C), s.transform(move(Xtr).reshape(-1, C)), atol=1e-12)
