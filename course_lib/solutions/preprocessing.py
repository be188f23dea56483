"""Standardization fitted on the training set only (notebook 11)."""

import numpy as np


def standardize(X_train, X_other, channel_axis=None):
    """``(Z_train, Z_other)``: both arrays shifted and scaled by the training set's statistics.

    ``channel_axis=None``: rows are examples, one mean and one (biased, ddof=0) standard deviation
    per column, as ``sklearn.preprocessing.StandardScaler``. Otherwise ``channel_axis`` names the
    channel axis of an image batch (1 for (N, C, H, W), -1 for (N, H, W, C)): one mean and std per
    channel over the examples and every pixel position. A statistic that is 0 on the training set
    (a constant feature) is replaced by 1, as StandardScaler does, so that feature is only centred.
    Neither input changes.
    """
    X_train, X_other = np.asarray(X_train, dtype=float), np.asarray(X_other, dtype=float)
    if channel_axis is None:
        axes = (0,)
    else:
        ch = channel_axis % X_train.ndim
        axes = tuple(a for a in range(X_train.ndim) if a != ch)
    mean = X_train.mean(axis=axes, keepdims=True)
    std = X_train.std(axis=axes, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return (X_train - mean) / std, (X_other - mean) / std
