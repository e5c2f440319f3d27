"""The networks, as pure Flax NNX modules with no state beyond their parameters: the causal 3D
VAE (vae.py), the DiT (dit.py) and its attention (attention.py), 3D rotary positions (rope.py), and
the sequence layout that says which token may see which (layout.py)."""
