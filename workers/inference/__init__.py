"""Inference backends the hub runs itself.

`workers.inference.local_model` (a package: `weights`, `engine`, `api`, `__main__`) serves
the built-in `local` provider: SmolLM2-135M-Instruct on CPU behind an OpenAI-compatible
API. Nothing is re-exported here on purpose: torch and transformers load only when the
model does, and `python -m workers.inference.local_model` runs its `__main__` module,
which nothing else may import.
"""

from __future__ import annotations
