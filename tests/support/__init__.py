"""Helpers more than one test tier uses; not a tier itself (it holds no tests). A tier imports them
from here and never from another tier's folder (tests/lock/test_standalone.py checks)."""
