"""Measurements on the engine: `stream bench` (bench.py), `stream eval` (evaluation.py), and the
drift lab (drift.py, drift_run.py, drift_plot.py, growth.py, jacobian.py)."""
