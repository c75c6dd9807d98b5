import { useMemo } from "react";
import { renderMarkdown } from "./markdown";

/** Rendered, sanitized Markdown. Loaded lazily (see LazyMarkdown). */
export default function Markdown({ source, testId = "markdown" }: { source: string; testId?: string }) {
  const html = useMemo(() => renderMarkdown(source), [source]);
  return <div className="markdown" data-testid={testId} dangerouslySetInnerHTML={{ __html: html }} />;
}
