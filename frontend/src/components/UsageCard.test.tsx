import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { UsagePage } from "../api/types";
import { UsageFacts } from "./UsageCard";

function page(summary: Partial<UsagePage["summary"]>): UsagePage {
  return {
    summary: {
      requests: 4, prompt_tokens: 1200, completion_tokens: 96, refused: 0, estimated: 0,
      attempts: 1, latency_p50_s: 1.25, latency_p95_s: 3.5, ...summary,
    },
    items: [],
    page: 1,
    per_page: 20,
  };
}

describe("<UsageFacts>", () => {
  it("shows requests, tokens, latency quantiles and the cost when priced", () => {
    render(<UsageFacts usage={page({})} cost={0.01234} />);
    const facts = screen.getByTestId("eval-usage").textContent ?? "";
    expect(facts).toContain("Model requests4");
    expect(facts).toContain("1,200");
    expect(facts).toContain("1.25 s / 3.50 s");
    expect(facts).toContain("$0.0123");
    expect(facts).not.toContain("refused");
    expect(facts).not.toContain("Attempts");
  });

  it("flags refused and estimated requests and retried attempts; no cost when unpriced", () => {
    render(<UsageFacts usage={page({ refused: 2, estimated: 3, attempts: 2 })} cost={null} />);
    const facts = screen.getByTestId("eval-usage").textContent ?? "";
    expect(facts).toContain("2 refused");
    expect(facts).toContain("(3 estimated)");
    expect(facts).toContain("Attempts2");
    expect(facts).not.toContain("Cost");
  });

  it("says so when the gateway saw no requests", () => {
    render(<UsageFacts usage={page({ requests: 0 })} cost={null} />);
    expect(screen.queryByTestId("eval-usage")).toBeNull();
    expect(screen.getByText(/recorded no model requests/)).toBeTruthy();
  });
});
