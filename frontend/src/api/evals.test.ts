import { afterEach, describe, expect, it, vi } from "vitest";
import { evalRun } from "../test/fixtures";
import { followEval, logLines, toEval, toSummary } from "./evals";
import type { EvalLogEvent, EvalStatusEvent } from "./evals";

/** A stand-in for the browser's EventSource that the test drives by hand. */
class FakeEventSource {
  static CLOSED = 2;
  static last: FakeEventSource | null = null;
  readyState = 1;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((e: MessageEvent<string>) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, fn: (e: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close() {
    this.readyState = FakeEventSource.CLOSED;
  }
  emit(type: string, data: unknown) {
    for (const fn of this.listeners.get(type) ?? []) fn(new MessageEvent(type, { data: JSON.stringify(data) }));
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("evaluation adapters", () => {
  it("turns the hub's EvalOut into the page's view", () => {
    const view = toEval(evalRun, ["a", "b"], 14);
    expect(view.num_examples).toBe(5);
    expect(view.rollouts_per_example).toBe(2);
    expect(view.sampling_args).toEqual({ temperature: 0.7, max_tokens: 256 });
    expect(view.progress).toEqual({ completed: 10, total: 10 });
    expect(view.metrics).toMatchObject({ mean_reward: 0.4, ci_low: 0.1, ci_high: 0.7, pass_at_k: 0.6, error_rate: 0.1, correct_answer: 0.4 });
    expect(view.started_at).toBe("2025-02-02T00:00:01Z");
    expect(view.finished_at).toBe("2025-02-02T00:01:00Z");
    expect(view.error).toBeNull();
    expect([view.log_tail, view.log_offset]).toEqual([["a", "b"], 14]);
    expect(toSummary(evalRun)).toMatchObject({ id: evalRun.id, mean_reward: 0.4, status: "succeeded" });
  });

  it("drops the cut first line of a log read from the middle", () => {
    expect(logLines("tail of a line\nwhole\nlast\n", true)).toEqual(["whole", "last"]);
    expect(logLines("first\nsecond", false)).toEqual(["first", "second"]);
  });
});

describe("followEval", () => {
  it("maps the hub's status, log and end events and resumes the log at the given offset", () => {
    vi.stubGlobal("EventSource", FakeEventSource);
    const statuses: EvalStatusEvent[] = [];
    const logs: EvalLogEvent[] = [];
    const done: string[] = [];
    followEval("ev-1", { onStatus: (e) => statuses.push(e), onLog: (e) => logs.push(e), onDone: (s) => done.push(s) }, 3000, 120);
    const source = FakeEventSource.last!;
    expect(source.url).toMatch(/\/api\/v1\/evals\/ev-1\/events\?offset=120$/);
    source.emit("status", { status: "running", progress_done: 1, progress_total: 4, attempts: 1 });
    source.emit("log", { offset: 120, text: "one\ntw" });
    source.emit("log", { offset: 126, text: "o\nthree\n" });
    source.emit("log", { offset: 134, text: "partial" });
    source.emit("end", { status: "succeeded" });
    expect(statuses).toEqual([{ status: "running", progress: { completed: 1, total: 4 } }]);
    expect(logs.map((l) => l.lines)).toEqual([["one"], ["two", "three"], ["partial"]]);
    expect(done).toEqual(["succeeded"]);
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
  });
});
