"""Code shared by the benchmarks. A package, so `make bench` (which runs ``benchmarks/*.py``) does not run it."""
