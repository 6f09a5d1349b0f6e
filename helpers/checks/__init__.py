"""Auto-checks for the notebooks' exercises: ``helpers.checks.nb01.exercise_1(...)``.

Each notebook's checks live in ``helpers/checks/nbNN.py``; the shared machinery is in
:mod:`helpers.checks.core`. Submodules are imported on first use, like ``helpers`` itself.

Serves every notebook's exercises.
"""

from helpers import lazy_submodules

__getattr__ = lazy_submodules(__name__)
