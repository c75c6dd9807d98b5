/**
 * Names the app uses for API shapes. They alias the generated schema, so when the
 * hub's real OpenAPI dump replaces the hand-written one, renamed components only need
 * fixing here.
 */
import type { components } from "./schema";

type Schemas = components["schemas"];

/** The signed-in user (GET /users/me, the session). */
export type User = Schemas["MeOut"];
/** Anyone's public profile. */
export type UserPublic = Schemas["UserOut"];
/** A user or an organization, by name (GET /owners/{name}). */
export type Owner = Schemas["OwnerOut"];
export type Session = Schemas["SessionOut"];
export type TokenScope = Schemas["TokenScope"];
export type Token = Schemas["TokenOut"];
export type TokenCreated = Schemas["TokenCreated"];
export type Org = Schemas["OrgOut"];
export type OrgMember = Schemas["MemberOut"];
export type OrgRole = Schemas["Role"];
/** An organization on a member's public profile (public memberships only). */
export type OrgRef = Schemas["OrgRef"];

export type Environment = Schemas["EnvironmentOut"];
export type EnvironmentPage = Schemas["EnvironmentPage"];
export type Runtime = Schemas["Runtime"];
export type VersionSummary = Schemas["VersionSummary"];
export type Version = Schemas["VersionOut"];
export type Install = Schemas["InstallOut"];
export type TreeEntry = Schemas["TreeEntry"];
export type FileContent = Schemas["FileContent"];
export type DownloadDay = Schemas["DailyCount"];
export type TagCount = Schemas["TagCount"];

/** The hub's leaderboard row, as sent (nullable numbers; `evaluation_id` links the run). */
export type LeaderboardRowOut = Schemas["LeaderboardRow"];
/**
 * A leaderboard row as pages show it (adapted in leaderboards.ts): every row the hub
 * returns has a mean and an interval, so they are plain numbers here.
 */
export type LeaderboardRow = Omit<LeaderboardRowOut, "mean_reward" | "ci_low" | "ci_high"> & {
  mean_reward: number;
  ci_low: number;
  ci_high: number;
};

export type Provider = Schemas["ProviderOut"];

/**
 * What the run-evaluation form sends. The generated type marks every field that has a
 * server-side default as required (openapi-typescript's defaultNonNullable); the hub
 * fills the ones left out (concurrency, timeout, seed, budgets).
 */
export type EvalCreateBody = Schemas["EvalCreate"];
export type EvalCreate = Pick<EvalCreateBody, "environment" | "version" | "model" | "num_examples" | "rollouts_per_example" | "sampling_args">;
/** The hub's evaluation, as sent (`GET /evals/{id}`, list items). */
export type EvalOut = Schemas["EvalOut"];
export type EvalOutPage = Schemas["EvalPage"];
export type EvalLog = Schemas["LogOut"];
export type JobStatus = Schemas["JobState"];
export type Sample = Schemas["SampleOut"];
export type SamplePage = Schemas["SamplePage"];
export type UsagePage = Schemas["UsagePage"];

export interface EvalProgress {
  completed: number;
  total: number | null;
}

/** An evaluation as the evaluation page shows it (adapted from EvalOut in evals.ts). */
export interface Eval {
  id: string;
  environment: string;
  version: string;
  content_hash: string;
  model: string;
  verified: boolean;
  num_examples: number;
  rollouts_per_example: number;
  sampling_args: { temperature?: number; max_tokens?: number };
  status: JobStatus;
  progress: EvalProgress;
  /** Aggregates once there are samples: mean reward, interval, pass@k, error rate, per-metric means. */
  metrics: Record<string, number> | null;
  mean_reward: number | null;
  ci_low: number | null;
  ci_high: number | null;
  /** "message (code)" when the run failed, timed out or was cancelled. */
  error: string | null;
  /** Run by the hub (its gateway recorded every model request) or uploaded by its author. */
  hosted: boolean;
  /** Dollars, when the provider has prices. */
  cost: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  created_by: string | null;
  /** The last lines of the log, and the byte offset the live stream continues from. */
  log_tail: string[];
  log_offset: number;
}

/** One row of "recent evaluations". */
export interface EvalSummary {
  id: string;
  environment: string;
  version: string;
  model: string;
  status: JobStatus;
  mean_reward: number | null;
  created_at: string;
  finished_at: string | null;
}

export interface EvalSummaryPage {
  items: EvalSummary[];
  total: number;
  page: number;
  per_page: number;
}

export type SortKey = "name" | "updated" | "created" | "downloads" | "stars";
export type SampleFilter = "all" | "failed" | "low_reward";
