"""Test-only code shared by several test files (never imported by the ``helpers`` package).

Test files import it as ``harness.<module>``: pytest puts ``tests/`` on ``sys.path`` (the
folder has no ``__init__.py``), and children started with ``python -m harness.<module>`` get it
through ``PYTHONPATH`` (:func:`harness.faults.child_env`).
"""
