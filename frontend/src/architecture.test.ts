import { describe, expect, it } from "vitest";

// All hub access lives in src/api/ so the generated client can be swapped cheaply.
const sources = import.meta.glob(["./components/**/*.{ts,tsx}", "./pages/**/*.{ts,tsx}", "./lib/**/*.{ts,tsx}", "!./**/*.test.{ts,tsx}"], {
  query: "?raw",
  import: "default",
  eager: true,
}) as Record<string, string>;

describe("architecture", () => {
  it("components and pages never call fetch or open EventSources", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    const offenders = Object.entries(sources)
      .filter(([, text]) => /\bfetch\s*\(|new\s+EventSource|XMLHttpRequest|from\s+["']openapi-fetch["']/.test(text))
      .map(([file]) => file);
    expect(offenders).toEqual([]);
  });
});
