"""Where parallel work runs: local processes, or the workers of a Dask cluster.

Feature extraction and grid searches already run through joblib; this subpackage only chooses
joblib's backend, so the same code runs on a laptop, a Slurm allocation or Kubernetes.
"""

from ._backend import BACKENDS, ParallelInfo, distributed_active, parallel_backend

__all__ = ["BACKENDS", "ParallelInfo", "distributed_active", "parallel_backend"]
