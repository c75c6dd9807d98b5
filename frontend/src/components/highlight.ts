/**
 * Syntax highlighting: highlight.js core with the few languages environment packages
 * contain. Imported only from lazily loaded modules (Markdown, CodeView) so it stays
 * out of the main bundle.
 */
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import diff from "highlight.js/lib/languages/diff";
import ini from "highlight.js/lib/languages/ini";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

hljs.registerLanguage("python", python);
hljs.registerLanguage("bash", bash);
hljs.registerLanguage("json", json);
hljs.registerLanguage("yaml", yaml);
hljs.registerLanguage("ini", ini);
hljs.registerLanguage("markdown", markdown);
hljs.registerLanguage("plaintext", plaintext);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("typescript", typescript);
hljs.registerLanguage("xml", xml);
hljs.registerLanguage("diff", diff);
hljs.registerAliases(["toml", "cfg"], { languageName: "ini" });
hljs.registerAliases(["sh", "shell", "console", "zsh"], { languageName: "bash" });
hljs.registerAliases(["py", "python3", "pycon"], { languageName: "python" });
hljs.registerAliases(["jsonl", "jsonc"], { languageName: "json" });
hljs.registerAliases(["text", "txt"], { languageName: "plaintext" });

/** Above this size a file is shown escaped but not highlighted (keeps the page responsive). */
export const MAX_HIGHLIGHT_CHARS = 200_000;

const EXTENSIONS: Record<string, string> = {
  py: "python",
  pyi: "python",
  sh: "bash",
  bash: "bash",
  json: "json",
  jsonl: "json",
  yaml: "yaml",
  yml: "yaml",
  toml: "ini",
  ini: "ini",
  cfg: "ini",
  md: "markdown",
  markdown: "markdown",
  js: "javascript",
  mjs: "javascript",
  ts: "typescript",
  html: "xml",
  xml: "xml",
  diff: "diff",
  patch: "diff",
  txt: "plaintext",
};

export function languageForPath(path: string): string | undefined {
  const base = path.split("/").pop() ?? path;
  if (base === "Makefile" || base === "Dockerfile") return "bash";
  const ext = base.includes(".") ? base.split(".").pop()!.toLowerCase() : "";
  return EXTENSIONS[ext];
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Highlighted HTML (hljs spans, escaped text) and the language used, if any. */
export function highlightCode(code: string, lang?: string | null): { html: string; language?: string } {
  const name = lang?.trim().toLowerCase().split(/\s+/)[0];
  if (code.length > MAX_HIGHLIGHT_CHARS) return { html: escapeHtml(code) };
  if (name && hljs.getLanguage(name)) {
    const language = hljs.getLanguage(name)!.name?.toLowerCase() ?? name;
    return { html: hljs.highlight(code, { language: name, ignoreIllegals: true }).value, language };
  }
  return { html: escapeHtml(code) };
}
