"""Inference backends the hub runs itself.

`workers.inference.local_model` serves the built-in `local` provider: SmolLM2-135M-Instruct
on CPU behind an OpenAI-compatible API. Nothing is re-exported here on purpose: torch and
transformers load only when the model does, and `python -m workers.inference.local_model`
must not find its module already imported by the package.
"""

from __future__ import annotations
