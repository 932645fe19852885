"""Repository-level pytest configuration: only what nbval collection needs.

The student edition (notebooks/student/) contains exercise stubs whose checks
fail on purpose; tests/test_notebooks.py checks those, so nbval must not run them.
"""

collect_ignore = ["notebooks/student"]
