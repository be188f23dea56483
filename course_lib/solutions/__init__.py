"""The reference solutions: one module per family of graded functions, never shipped to students.

* ``descent``   -- numerical gradient, gradient descent, the stopping rule (notebook 01)
* ``data``      -- mini-batches (02)
* ``linear``    -- linear and logistic loss-and-gradient, one SGD epoch (02)
* ``ewma``      -- exponentially weighted averages (03)
* ``optim``     -- gd_step, SGD with momentum, AdaGrad, RMSProp, Adam/AdamW (04-06)
* ``schedules`` -- learning-rate schedules (07)
* ``stopping``  -- early stopping (07)
* ``averaging`` -- weight averaging, SWA (07)
* ``search``    -- random and grid search (07)
* ``layers``    -- batch normalization, softmax, cross-entropy (08, 09)
* ``transfer``  -- freezing, heads, parameter groups (10)
"""
