"""JAX's persistent compilation cache, so that a restarted server skips most of its warm-up."""

from __future__ import annotations

import os
import pathlib

DEFAULT_CACHE_DIR = pathlib.Path(
    os.environ.get("STREAM_JAX_CACHE", pathlib.Path.home() / ".cache" / "stream" / "jax")
)


def enable_compilation_cache(directory: str | pathlib.Path = DEFAULT_CACHE_DIR) -> pathlib.Path:
    """Stores compiled stages in directory (created if missing) and reuses them across runs."""
    import jax  # here: the command line reads DEFAULT_CACHE_DIR for its --help without JAX

    path = pathlib.Path(directory).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"compilation cache {str(path)!r}: cannot create it ({error.strerror}); accepted: a "
            "writable folder, or an empty value to compile without a cache"
        ) from error
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every stage, however quick to compile: a dozen small ones add up to seconds at start-up.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
