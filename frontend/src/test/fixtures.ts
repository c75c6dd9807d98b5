import type { Environment, EvalLog, EvalOut, LeaderboardRow, Sample, User, Version, VersionSummary } from "../api/types";

export const user: User = { id: "u1", username: "alice", email: "alice@example.com", is_admin: false, created_at: "2025-01-01T00:00:00Z" };

export function environment(i: number, over: Partial<Environment> = {}): Environment {
  const owner = over.owner ?? `owner${i % 7}`;
  const name = over.name ?? `env-${i}`;
  return {
    id: String(i),
    owner,
    name,
    full_name: `${owner}/${name}`,
    visibility: "public",
    description: `Environment number ${i}`,
    tags: ["math", i % 2 ? "reasoning" : "tools"],
    runtime: i % 3 ? "v1" : "v0",
    latest_version: "0.1.0",
    downloads: 1000 - i,
    stars: i % 50,
    starred: false,
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-02-01T00:00:00Z",
    url: `/${owner}/${name}`,
    ...over,
  };
}

export const version: Version = {
  environment: "alice/gsm8k",
  version: "0.2.0",
  content_hash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  runtime: "v1",
  description: "Grade-school math word problems",
  tags: ["math"],
  license: "MIT",
  requires_python: ">=3.10",
  dependencies: ["verifiers>=0.4"],
  readme: "# GSM8K\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
  yanked: false,
  yanked_reason: null,
  created_at: "2025-02-01T00:00:00Z",
  published_by: "alice",
  visibility: "public",
  files: [],
  install: {
    index_url: "http://hub.test/index/alice/gsm8k/simple/",
    owner_index_url: "http://hub.test/index/alice/simple/",
    pip: "pip install gsm8k --index-url http://hub.test/index/alice/gsm8k/simple/",
    uv: "uv pip install gsm8k --index-url http://hub.test/index/alice/gsm8k/simple/",
    envhub: "envhub install alice/gsm8k",
    prime: "prime env install alice/gsm8k",
  },
};

export const versions: VersionSummary[] = [
  { version: "0.2.0", content_hash: version.content_hash, runtime: "v1", yanked: false, yanked_reason: null, created_at: "2025-02-01T00:00:00Z", size: 12345 },
  { version: "0.1.0", content_hash: "sha256:fedcba", runtime: "v1", yanked: true, yanked_reason: "broken", created_at: "2025-01-01T00:00:00Z", size: 2048 },
];

export function lbRow(model: string, mean: number, low: number, high: number, rankLow: number, rankHigh: number): LeaderboardRow {
  return {
    model,
    mean_reward: mean,
    ci_low: low,
    ci_high: high,
    n_examples: 100,
    rollouts_per_example: 4,
    pass_at_k: null,
    mean_tokens: null,
    cost: null,
    error_rate: 0.01,
    date: "2025-02-02T00:00:00Z",
    version: "0.2.0",
    content_hash: version.content_hash,
    verified: true,
    rank_low: rankLow,
    rank_high: rankHigh,
    evaluation_id: `ev-${model.replace("/", "-")}`,
  };
}

/** An evaluation as the hub sends it (GET /api/v1/evals/{id}). */
export const evalRun: EvalOut = {
  id: "ev-123456789",
  environment: "alice/gsm8k",
  version: "0.2.0",
  content_hash: version.content_hash,
  runtime: "v1",
  model: "local/smollm2-135m",
  provider: "local",
  verified: true,
  source: "hosted",
  status: "succeeded",
  spec: { num_examples: 5, rollouts_per_example: 2, sampling_args: { temperature: 0.7, max_tokens: 256 }, env_args: {} },
  created_by: "alice",
  created_at: "2025-02-02T00:00:00Z",
  completed_at: "2025-02-02T00:01:00Z",
  progress_done: 10,
  progress_total: 10,
  error_code: null,
  error_message: null,
  aggregates: {
    n_examples: 5,
    rollouts_per_example: 2,
    n_samples: 10,
    n_errors: 1,
    error_rate: 0.1,
    mean_reward: 0.4,
    ci_low: 0.1,
    ci_high: 0.7,
    pass_at_k: 0.6,
    mean_tokens: 12,
    tokens_in: 100,
    tokens_out: 20,
    cost: null,
    metrics: { correct_answer: 0.4 },
  },
  job: {
    id: "job-1",
    kind: "evaluation",
    queue: "evals",
    state: "succeeded",
    attempts: 1,
    max_attempts: 3,
    progress_done: 10,
    progress_total: 10,
    error_code: null,
    error_message: null,
    heartbeat_at: "2025-02-02T00:00:59Z",
    created_at: "2025-02-02T00:00:00Z",
    started_at: "2025-02-02T00:00:01Z",
    finished_at: "2025-02-02T00:01:00Z",
    log_bytes: 14,
  },
};

/** Its whole log (GET /api/v1/evals/{id}/logs). */
export const evalLog: EvalLog = { offset: 0, next_offset: 14, text: "starting\ndone\n", complete: true };

export function sample(i: number, over: Partial<Sample> = {}): Sample {
  return {
    example_id: String(Math.floor(i / 2)),
    rollout_index: i % 2,
    prompt: [{ role: "user", content: `What is ${i} + 1?` }],
    completion: [{ role: "assistant", content: String(i + 1) }],
    answer: String(i + 1),
    reward: i % 3 ? 1 : 0,
    metrics: {},
    error: null,
    tokens_in: 10,
    tokens_out: 2,
    latency_s: 0.5,
    ...over,
  };
}
