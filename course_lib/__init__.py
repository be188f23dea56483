"""course_lib: the reference package of the optimization-for-deep-learning course.

Two kinds of module live here, and the layout says which is which:

* ``course_lib/solutions/``: the **reference solutions**, the functions the notebooks grade
  (``course_lib.solutions.optim.adam``, ``course_lib.solutions.layers.batchnorm_backward``, ...).
  They are the instructor's answers: ``course release`` ships ``course_lib`` without this folder.
* everything else: the **support** modules the notebooks import, and what students receive:
  landscapes, plotting, widgets, data sets, models, the training loop, the optimizer wrapper,
  the checks used by the tests, the course's own pretrained backbone (``backbones``, notebook
  10) and the fast CIFAR-10 GPU training that ``benchmarks/cifar10_gpu.py`` times
  (``cifar_speed``). A support module never imports from ``solutions``.

Importing ``course_lib`` itself is cheap (no torch, no matplotlib); import the module
you need, e.g. ``from course_lib import landscapes``.
"""

__version__ = "0.1.0"

#: The sub-package that holds the reference solutions; the student copy of ``course_lib`` is
#: this package without it.
SOLUTIONS_PACKAGE = "solutions"
