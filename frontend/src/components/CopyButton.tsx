import { useEffect, useRef, useState } from "react";
import { copyText } from "../lib/clipboard";

interface Props {
  text: string;
  /** Accessible name, e.g. "Copy pip command" */
  label?: string;
  testId?: string;
}

export function CopyButton({ text, label = "Copy", testId }: Props) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);

  async function onClick() {
    try {
      await copyText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setState("idle"), 2000);
  }

  return (
    <>
      <button type="button" className="btn btn-small btn-copy" onClick={onClick} aria-label={label} data-testid={testId} data-state={state}>
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed" : "Copy"}
      </button>
      <span className="sr-only" role="status" aria-live="polite">
        {state === "copied" ? "Copied to clipboard" : state === "failed" ? "Could not copy" : ""}
      </span>
    </>
  );
}
