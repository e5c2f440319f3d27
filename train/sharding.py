"""Data parallelism over a jax.sharding Mesh: parameters replicated, batches split on "data".

The same code runs on one CPU, on several local devices and on many hosts: with
jax.distributed.initialize() called first, jax.devices() lists every host's devices, the mesh
spans them all, and each host feeds the rows of the global batch that live on its devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over the mesh's "data" axis."""
    return NamedSharding(mesh, PartitionSpec("data"))


def check_batch(batch: int, mesh: Mesh) -> None:
    if batch % mesh.size:
        raise ValueError(f"batch={batch} must be a multiple of the {mesh.size} devices")


def put_batch(tree: Any, mesh: Mesh) -> Any:
    """Host arrays (the global batch) -> arrays sharded over "data"."""
    sharding = batch_sharded(mesh)
    return jax.tree.map(
        lambda x: jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx]), tree
    )


def put_replicated(tree: Any, mesh: Mesh) -> Any:
    return jax.device_put(tree, replicated(mesh))
