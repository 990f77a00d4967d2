"""Compatibility: `editlab.data.job` was split into `spec` (JobSpec, JobResult), `driver` (Job),
`worker` (one shard), `layout` (the output folder) and `export/` (final shards, card). Kept for
scripts that import from here (benchmarks/data_speed.py); new code imports `editlab.data`."""

from editlab.data.driver import Job
from editlab.data.spec import JobResult, JobSpec

__all__ = ["Job", "JobResult", "JobSpec"]
