"""MediaLab benchmarks: ``python -m bench`` (all of them, one table) or ``python -m bench <part>``."""
