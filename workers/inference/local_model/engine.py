"""Generation: one lazily loaded model, decoded token by token with a KV cache.

Loading happens once under a lock; generation is serialized by a second lock because two
concurrent decodes on two cores are slower than two sequential ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workers.inference.local_model.weights import (
    LoadedModel,
    default_cache_dir,
    default_model_path,
    default_threads,
    load_weights,
)

DEFAULT_MAX_TOKENS = 1024  # when a request gives none: bounds a rambling answer on CPU


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass
class GenerationResult:
    text: str
    finish_reason: Literal["stop", "length", "cancelled"]
    prompt_tokens: int
    completion_tokens: int
    seconds: float = 0.0

    def usage(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": total}  # fmt: skip


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters might still turn into a stop string (or are half of a
    UTF-8 sequence) and so must not be streamed yet."""
    hold = 1 if text.endswith("\ufffd") else 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return hold


@dataclass
class LocalModel:
    """Owns the model; thread-safe: `encode` and `generate` may be called from any thread."""

    model_path: Path | None = None
    threads: int = field(default_factory=default_threads)
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    _loaded: LoadedModel | None = field(default=None, init=False, repr=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _gen_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    load_seconds: float | None = field(default=None, init=False)
    loaded_from: Path | None = field(default=None, init=False)

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                path = self.model_path or default_model_path()
                loaded = load_weights(path, self.threads, self.cache_dir)
                self.loaded_from, self.load_seconds = loaded.source, loaded.seconds
                self._loaded = loaded
            return self._loaded

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        """Prompt token ids through the model's own chat template."""
        loaded = self.load()
        encoded = loaded.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return [int(i) for i in encoded["input_ids"]]

    def generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Decode token by token with a KV cache; `on_text` gets each safe-to-show piece."""
        import torch

        loaded = self.load()
        started = time.perf_counter()
        generator = torch.Generator()
        if params.seed is None:
            generator.seed()  # a fresh Generator has a fixed default seed
        else:
            generator.manual_seed(params.seed % 2**63)  # any OpenAI int seed, torch's range
        tokens: list[int] = []
        text, emitted = "", 0
        finish: Literal["stop", "length", "cancelled"] = "length"
        sampled = 0
        # transformers 5 renamed the KV-cache argument and output field to `cache`
        cache_kw = loaded.cache_kw
        with self._gen_lock, torch.inference_mode():
            out = loaded.model(
                input_ids=torch.tensor([prompt_ids]), use_cache=True, logits_to_keep=1
            )
            while not (cancel is not None and cancel.is_set()):
                token = _pick(out.logits[0, -1], params, generator)
                sampled += 1
                if token in loaded.eos_ids:
                    finish = "stop"
                    break
                tokens.append(token)
                text = loaded.tokenizer.decode(tokens, skip_special_tokens=True)
                hits = [i for i in (text.find(s) for s in params.stop) if i >= 0]
                if hits:
                    text, finish = text[: min(hits)], "stop"
                    break
                safe = len(text) - _held_back(text, params.stop)
                if on_text is not None and safe > emitted:
                    on_text(text[emitted:safe])
                    emitted = safe
                if sampled >= params.max_tokens:
                    break
                step = {cache_kw: getattr(out, cache_kw)}
                out = loaded.model(input_ids=torch.tensor([[token]]), use_cache=True, **step)
            else:
                finish = "cancelled"
        if on_text is not None and len(text) > emitted:
            on_text(text[emitted:])
        return GenerationResult(
            text=text,
            finish_reason=finish,
            prompt_tokens=len(prompt_ids),
            completion_tokens=sampled,
            seconds=time.perf_counter() - started,
        )


def _pick(logits: Any, params: SamplingParams, generator: Any) -> int:
    import torch

    if params.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the top token always stays)
        sorted_p = sorted_p * ((torch.cumsum(sorted_p, dim=-1) - sorted_p) < params.top_p)
        return int(order[torch.multinomial(sorted_p, 1, generator=generator)])
    return int(torch.multinomial(probs, 1, generator=generator))
