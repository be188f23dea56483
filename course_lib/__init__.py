"""course_lib: the reference package of the optimization-for-deep-learning course.

Two kinds of module live here:

* **Reference solutions** (``SOLUTION_MODULES``): the functions the notebooks grade,
  e.g. ``course_lib.optim.adam``. They are the instructor's answers; ``course release``
  leaves them out of everything a student receives.
* **Support** modules the notebooks import: landscapes, plotting, widgets, data sets,
  models, the training loop, the optimizer wrapper, the checks used by the tests, the
  course's own pretrained backbone (``backbones``, notebook 10) and the fast CIFAR-10 GPU
  training that ``benchmarks/cifar10_gpu.py`` times (``cifar_speed``).

Importing ``course_lib`` itself is cheap (no torch, no matplotlib); import the module
you need, e.g. ``from course_lib import landscapes``.
"""

__version__ = "0.1.0"

#: Modules that hold reference solutions to graded exercises. They never ship to students:
#: ``course release`` copies every other module of this package next to the notebooks.
SOLUTION_MODULES = (
    "descent",
    "optim",
    "schedules",
    "stopping",
    "ewma",
    "layers",
    "data",
    "linear",
    "averaging",
    "search",
    "transfer",
)
