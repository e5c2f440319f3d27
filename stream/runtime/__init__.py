"""What runs a stream: the engine (engine.py) with its compiled programs over a session's explicit
state (timeline.py, chunk.py), the batcher that runs many sessions' calls as one (batcher.py), the
KV cache (kv_cache.py), the flow sampler (sampler.py), the anchor to z_0 (anchor.py), the
change-scale fit (backtest.py), sessions (session.py) and checkpoints (checkpoint.py). Pixel
post-processing is apart, in stream/filters."""
