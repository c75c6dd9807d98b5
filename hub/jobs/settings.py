"""Settings of background work (`HUB_*`), kept apart from the core settings on purpose:
only workers and the job API read them."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=None, extra="ignore")

    heartbeat_interval_s: float = Field(5.0, gt=0, description="Worker heartbeat period")
    # A running job whose heartbeat is older than this is presumed lost (worker killed).
    stale_after_s: float = Field(60.0, gt=0)
    # A queued job whose task message is older than this is re-sent (lost message).
    resend_after_s: float = Field(300.0, gt=0)
    reconcile_every_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=20)
    # Extra wall-clock time a job may run past its own timeout before the reconciler
    # declares it timed out even though its worker still heartbeats (a wedged worker).
    timeout_grace_s: float = Field(300.0, ge=0)
    max_log_bytes: int = Field(8 * 1024 * 1024, gt=0)
    sample_flush_every: int = Field(25, ge=1, description="Samples per storage chunk")
    # "module:function" of the evaluation runner; empty = workers.evals.run_evaluation.
    eval_runner: str = ""
    worker_dir: str = Field("", description="Scratch dir of workers; default data_dir/work")
    venv_cache_dir: str = Field("", description="Prepared env venvs; default data_dir/venvs")
    broker_key_prefix: str = Field("", description="Redis key prefix (shared Redis, tests)")
    local_model_url: str = Field("http://127.0.0.1:8001/v1",
                                 description="The built-in `local` provider; empty = off")
    local_model_port: int = 8001
    # How workers reach the hub's package index (compose: http://api:8000); "" = public URL.
    internal_url: str = ""
    # GPU queue: how workers/gpu.py starts vLLM for a provider of kind "vllm".
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    vllm_gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    vllm_max_model_len: int | None = None
    vllm_extra_args: str = Field("", description="Extra vLLM flags, shell-quoted")
    vllm_startup_timeout_s: float = Field(900.0, gt=0)
    eval_max_examples: int = 10_000
    eval_max_rollouts: int = 64


@lru_cache(maxsize=1)
def get_job_settings() -> JobSettings:
    return JobSettings()
