import { useMemo } from "react";
import { highlightCode, languageForPath } from "./highlight";

/** Highlighted source file. Loaded lazily (see LazyCode). */
export default function CodeView({ code, path, language }: { code: string; path?: string; language?: string }) {
  const lang = language ?? (path ? languageForPath(path) : undefined);
  const { html, language: used } = useMemo(() => highlightCode(code, lang), [code, lang]);
  return (
    <pre className="code-view" tabIndex={0} aria-label={path ? `Contents of ${path}` : "Code"}>
      <code className={used ? `hljs language-${used}` : "hljs"} dangerouslySetInnerHTML={{ __html: html }} />
    </pre>
  );
}
