"""The reference solutions: one module per family of graded functions, never shipped to students.

* ``descent``   -- numerical gradient, gradient descent, the largest stable learning rate (notebook 01)
* ``data``      -- mini-batches and the noise of their gradients (02)
* ``linear``    -- linear and logistic loss-and-gradient, one SGD epoch (02)
* ``ewma``      -- exponentially weighted averages (03)
* ``optim``     -- gd_step, SGD with momentum, AdaGrad, RMSProp, Adam/AdamW (04-06)
* ``convergence`` -- predicted rates: steps per factor 10 for the best heavy ball and GD (04)
* ``schedules`` -- learning-rate schedules (07)
* ``stopping``  -- early stopping (07)
* ``averaging`` -- weight averaging, SWA (07)
* ``search``    -- random and grid search (07)
* ``layers``    -- batch normalization, softmax, cross-entropy (08, 09)
* ``transfer``  -- freezing, heads, parameter groups (10)
* ``activations``, ``initialization``, ``preprocessing`` -- activations and their derivatives, fans,
  Xavier/He, the signal's scale through depth, standardization (11)
* ``regularization`` -- inverted dropout, the L2 penalty, crop-and-flip, ensembles (12)
"""
