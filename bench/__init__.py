"""The lbaas benchmark suite (``python -m bench`` or ``lbaas-bench``); see docs/benchmarks.md."""
