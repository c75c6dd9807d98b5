/**
 * Evaluations: start one, read it, its samples, and its live event stream.
 *
 * The hub's shapes (EvalOut with `spec`, `aggregates`, `job`; SSE events `status`, `log`,
 * `end`) are adapted here into what the pages show (Eval, EvalSummary), so pages do not
 * depend on the wire format.
 */
import { api, apiUrl, unwrap } from "./client";
import type { Eval, EvalCreate, EvalOut, EvalCreateBody, EvalSummary, EvalSummaryPage, JobStatus, SampleFilter, SamplePage, UsagePage } from "./types";

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);
/** How much of the log the evaluation page loads at first (the live stream continues it). */
export const LOG_TAIL_BYTES = 64 * 1024;
export const LOG_TAIL_LINES = 300;

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export async function createEval(body: EvalCreate): Promise<string> {
  // The hub applies its defaults to the fields the form leaves out (see EvalCreate).
  const data = await unwrap(api.POST("/api/v1/evals", { body: body as EvalCreateBody }));
  return String(data.id);
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Numbers worth showing in the metrics card (null and absent values are left out). */
function metricsOf(agg: EvalOut["aggregates"]): Record<string, number> | null {
  if (!agg.n_samples) return null;
  const out: Record<string, number> = {};
  const named: [string, number | null | undefined][] = [
    ["mean_reward", agg.mean_reward],
    ["ci_low", agg.ci_low],
    ["ci_high", agg.ci_high],
    ["pass_at_k", agg.pass_at_k],
    ["error_rate", agg.error_rate],
  ];
  for (const [k, v] of named) if (typeof v === "number") out[k] = v;
  for (const [k, v] of Object.entries(agg.metrics ?? {})) if (typeof v === "number" && !(k in out)) out[k] = v;
  return out;
}

/** The page's view of an evaluation, from the hub's EvalOut and the tail of its log. */
export function toEval(ev: EvalOut, logTail: string[] = [], logOffset = 0): Eval {
  const spec = ev.spec ?? {};
  const sampling = (spec.sampling_args ?? {}) as Record<string, unknown>;
  const agg = ev.aggregates;
  return {
    id: String(ev.id),
    environment: ev.environment,
    version: ev.version,
    content_hash: ev.content_hash,
    model: ev.model,
    verified: ev.verified,
    num_examples: num(spec.num_examples) ?? agg.n_examples,
    rollouts_per_example: num(spec.rollouts_per_example) ?? agg.rollouts_per_example,
    sampling_args: { temperature: num(sampling.temperature), max_tokens: num(sampling.max_tokens) },
    status: ev.status as JobStatus,
    progress: { completed: ev.progress_done, total: ev.progress_total ?? null },
    metrics: metricsOf(agg),
    mean_reward: agg.mean_reward ?? null,
    ci_low: agg.ci_low ?? null,
    ci_high: agg.ci_high ?? null,
    error: ev.error_code ? `${ev.error_message || ev.error_code} (${ev.error_code})` : null,
    hosted: ev.source === "hosted",
    cost: agg.cost ?? null,
    created_at: ev.created_at,
    started_at: ev.job?.started_at ?? null,
    finished_at: ev.completed_at ?? ev.job?.finished_at ?? null,
    created_by: ev.created_by ?? null,
    log_tail: logTail,
    log_offset: logOffset,
  };
}

export function toSummary(ev: EvalOut): EvalSummary {
  return {
    id: String(ev.id),
    environment: ev.environment,
    version: ev.version,
    model: ev.model,
    status: ev.status as JobStatus,
    mean_reward: ev.aggregates.mean_reward ?? null,
    created_at: ev.created_at,
    finished_at: ev.completed_at ?? null,
  };
}

/** Whole lines of `text`; when it starts mid-log (`partial`), the first, cut line is dropped. */
export function logLines(text: string, partial: boolean): string[] {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  if (partial) lines.shift();
  return lines;
}

/** The last LOG_TAIL_BYTES of the log: [lines, the offset the log continues from]. */
async function logTail(id: string, logBytes: number): Promise<[string[], number]> {
  const offset = Math.max(0, logBytes - LOG_TAIL_BYTES);
  const piece = await unwrap(api.GET("/api/v1/evals/{eval_id}/logs", { params: { path: { eval_id: id }, query: { offset } } }));
  return [logLines(piece.text, piece.offset > 0).slice(-LOG_TAIL_LINES), piece.next_offset];
}

export async function getEval(id: string): Promise<Eval> {
  const ev = await unwrap(api.GET("/api/v1/evals/{eval_id}", { params: { path: { eval_id: id } } }));
  const bytes = ev.job?.log_bytes ?? 0;
  const [lines, offset] = bytes > 0 ? await logTail(String(ev.id), bytes) : [[], 0];
  return toEval(ev, lines, offset);
}

export async function listEvals(query: { environment?: string; model?: string; page?: number; per_page?: number }): Promise<EvalSummaryPage> {
  const page = await unwrap(api.GET("/api/v1/evals", { params: { query } }));
  return { ...page, items: page.items.map(toSummary) };
}

export function listSamples(
  id: string,
  query: { page?: number; per_page?: number; filter?: SampleFilter },
): Promise<SamplePage> {
  const { filter, ...rest } = query;
  // "all" is the UI's name for no filter; the hub knows only failed | low_reward.
  const params = filter && filter !== "all" ? { ...rest, filter } : rest;
  return unwrap(api.GET("/api/v1/evals/{eval_id}/samples", { params: { path: { eval_id: id }, query: params } }));
}

/** The model gateway's record of a hosted run: a summary and the first page of requests. */
export function getUsage(id: string, perPage = 20): Promise<UsagePage> {
  return unwrap(api.GET("/api/v1/evals/{eval_id}/usage", { params: { path: { eval_id: id }, query: { per_page: perPage } } }));
}

/** What `followEval` reports (adapted from the hub's server-sent events). */
export interface EvalStatusEvent {
  status: JobStatus;
  progress?: { completed: number; total: number | null };
}
export interface EvalLogEvent {
  lines: string[];
  /** true: `lines` is the whole tail (polling); otherwise append them. */
  replace?: boolean;
}

export interface EvalEventHandlers {
  onStatus(event: EvalStatusEvent): void;
  onLog(event: EvalLogEvent): void;
  /** The run reached a terminal state (from an `end` event, or seen while polling). */
  onDone(status: JobStatus): void;
}

/** The hub's event payloads on `/api/v1/evals/{id}/events`. */
interface HubStatusEvent {
  status: JobStatus;
  progress_done?: number;
  progress_total?: number | null;
}
interface HubLogEvent {
  offset: number;
  text: string;
}

function parse<T>(raw: string): T | null {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/**
 * Follow an evaluation live from byte `logOffset` of its log (what the page already
 * shows). Uses EventSource (`status`, `log`, `end`; a reconnect resumes the log from the
 * last event id); if the stream cannot be opened or breaks for good, falls back to
 * polling GET /evals/{id} every `pollMs`. Returns a function that stops following.
 */
export function followEval(id: string, handlers: EvalEventHandlers, pollMs = 3000, logOffset = 0): () => void {
  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastLogOffset = logOffset;
  let carry = ""; // text after the last newline, until its line is complete

  const finish = (status: JobStatus) => {
    if (stopped) return;
    stop();
    handlers.onDone(status);
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const run = await getEval(id);
      if (stopped) return;
      handlers.onStatus({ status: run.status, progress: run.progress });
      if (run.log_offset !== lastLogOffset) {
        lastLogOffset = run.log_offset;
        handlers.onLog({ lines: run.log_tail, replace: true });
      }
      if (isTerminal(run.status)) {
        finish(run.status);
        return;
      }
    } catch {
      // keep trying: the page shows the last known state
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  };

  function stop() {
    stopped = true;
    source?.close();
    source = null;
    if (timer) clearTimeout(timer);
    timer = null;
  }

  if (typeof EventSource === "undefined") {
    timer = setTimeout(poll, pollMs);
    return stop;
  }

  source = new EventSource(apiUrl(`/api/v1/evals/${encodeURIComponent(id)}/events?offset=${logOffset}`));
  source.addEventListener("status", (e) => {
    const data = parse<HubStatusEvent>((e as MessageEvent<string>).data);
    if (!data) return;
    const progress = typeof data.progress_done === "number" ? { completed: data.progress_done, total: data.progress_total ?? null } : undefined;
    handlers.onStatus({ status: data.status, progress });
  });
  source.addEventListener("log", (e) => {
    const data = parse<HubLogEvent>((e as MessageEvent<string>).data);
    if (!data || typeof data.text !== "string") return;
    lastLogOffset = data.offset + new TextEncoder().encode(data.text).length;
    const text = carry + data.text;
    const cut = text.lastIndexOf("\n");
    carry = cut < 0 ? text : text.slice(cut + 1);
    const lines = cut < 0 ? [] : text.slice(0, cut).split("\n");
    if (lines.length) handlers.onLog({ lines });
  });
  source.addEventListener("end", (e) => {
    const data = parse<{ status: JobStatus }>((e as MessageEvent<string>).data);
    if (carry) handlers.onLog({ lines: [carry] });
    carry = "";
    finish(data?.status ?? "succeeded");
  });
  source.onerror = () => {
    // EventSource retries by itself while CONNECTING; once CLOSED, poll instead.
    if (source && source.readyState === EventSource.CLOSED && !stopped) {
      source.close();
      source = null;
      timer = setTimeout(poll, pollMs);
    }
  };
  return stop;
}
