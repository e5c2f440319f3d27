"""Measurements on the engine: `stream bench` (bench.py), `stream eval` (evaluation.py), and the
drift lab (drift.py, drift_run.py, drift_plot.py and its instruments: chunk_map.py, jacobian.py,
lyapunov.py, theory.py, saturation.py, growth.py, coherence.py, guidance_sweep.py)."""
