"""Training of the engine's models: `python -m train vae|dit|export ...` (see train/__main__.py).

Layering: train imports stream (the model definitions), never the other way round.
"""
