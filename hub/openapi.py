"""Print the hub's OpenAPI schema: `python -m hub.openapi > frontend/openapi.json`.

The web catalog's typed client is generated from this dump (docs/design/frontend.md).
The app is built against throwaway settings: nothing is connected to or written.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    from hub.app import create_app
    from hub.kit.settings import Settings

    with tempfile.TemporaryDirectory(prefix="envhub-openapi-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url="sqlite://",
                            storage_url=f"file://{tmp}/blobs", secret_key="openapi-dump-" * 3)
        return create_app(settings).openapi()


def main() -> None:
    json.dump(schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
