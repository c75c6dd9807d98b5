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

export type LeaderboardRow = Schemas["LeaderboardRow"];

export type Provider = Schemas["ProviderOut"];

export type EvalCreate = Schemas["EvalCreate"];
export type Eval = Schemas["EvalOut"];
export type EvalSummary = Schemas["EvalSummary"];
export type EvalPage = Schemas["EvalPage"];
export type JobStatus = Schemas["JobState"];
export type Sample = Schemas["SampleOut"];
export type SamplePage = Schemas["SamplePage"];

export type SortKey = "name" | "updated" | "created" | "downloads" | "stars";
export type SampleFilter = "all" | "failed" | "low_reward";
