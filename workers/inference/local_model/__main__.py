"""`python -m workers.inference.local_model`: serve the local model over HTTP."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from workers.inference.local_model.api import create_local_model_app
from workers.inference.local_model.weights import MODEL_ID


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        # the name argparse showed when this was the single module local_model.py
        prog="local_model.py",
        description=f"Serve {MODEL_ID} on CPU (OpenAI API)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model-path", type=Path, default=None, help="a .gguf file")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-preload", action="store_true", help="load on first request")
    parser.add_argument("--cache-dir", type=Path, default=None, help="converted-weights cache")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    app = create_local_model_app(
        args.model_path, preload=not args.no_preload, threads=args.threads, cache_dir=args.cache_dir
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, ws="none")


if __name__ == "__main__":
    main()
