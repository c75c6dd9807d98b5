/** Evaluations: start one, read it, its samples, and its live event stream. */
import { api, apiUrl, unwrap } from "./client";
import type { Eval, EvalCreate, EvalPage, JobStatus, SampleFilter, SamplePage } from "./types";

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled", "timed_out"]);

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

export async function createEval(body: EvalCreate): Promise<string> {
  const data = await unwrap(api.POST("/api/v1/evals", { body }));
  return String(data.id);
}

export function getEval(id: string): Promise<Eval> {
  return unwrap(api.GET("/api/v1/evals/{eval_id}", { params: { path: { eval_id: id } } }));
}

export function listEvals(query: { environment?: string; model?: string; page?: number; per_page?: number }): Promise<EvalPage> {
  return unwrap(api.GET("/api/v1/evals", { params: { query } }));
}

export function listSamples(
  id: string,
  query: { page?: number; per_page?: number; filter?: SampleFilter },
): Promise<SamplePage> {
  return unwrap(api.GET("/api/v1/evals/{eval_id}/samples", { params: { path: { eval_id: id }, query } }));
}

/** Payloads of the server-sent events on `/api/v1/evals/{id}/events`. */
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
  /** The run reached a terminal state (from a `done` event, or seen while polling). */
  onDone(status: JobStatus): void;
}

function parse<T>(raw: string): T | null {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}

/**
 * Follow an evaluation live. Uses EventSource; if the stream cannot be opened or
 * breaks for good, falls back to polling GET /evals/{id} every `pollMs`.
 * Returns a function that stops following.
 */
export function followEval(id: string, handlers: EvalEventHandlers, pollMs = 3000): () => void {
  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastLogCount = -1;

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
      if (run.log_tail.length !== lastLogCount) {
        lastLogCount = run.log_tail.length;
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

  source = new EventSource(apiUrl(`/api/v1/evals/${encodeURIComponent(id)}/events`));
  source.addEventListener("status", (e) => {
    const data = parse<EvalStatusEvent>((e as MessageEvent<string>).data);
    if (data) handlers.onStatus(data);
  });
  source.addEventListener("log", (e) => {
    const data = parse<EvalLogEvent & { line?: string }>((e as MessageEvent<string>).data);
    if (!data) return;
    const lines = Array.isArray(data.lines) ? data.lines : typeof data.line === "string" ? [data.line] : [];
    if (lines.length) handlers.onLog({ lines });
  });
  source.addEventListener("done", (e) => {
    const data = parse<{ status: JobStatus }>((e as MessageEvent<string>).data);
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
