/**
 * README rendering: GitHub-flavoured Markdown (marked) -> highlighted code blocks ->
 * sanitized HTML (DOMPurify). A README is untrusted input: raw <script>, event-handler
 * attributes, javascript: URLs, <style>, <iframe>, forms and inline styles never survive.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";
import { escapeHtml, highlightCode } from "./highlight";

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    code({ text, lang }) {
      const { html, language } = highlightCode(text, lang);
      const cls = language ? `hljs language-${escapeHtml(language)}` : "hljs";
      return `<pre><code class="${cls}">${html}</code></pre>\n`;
    },
  },
});

let hooked = false;
function installHooks(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      const href = node.getAttribute("href") ?? "";
      if (/^https?:\/\//i.test(href)) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    }
    if (node.tagName === "IMG") {
      node.setAttribute("loading", "lazy");
      node.setAttribute("referrerpolicy", "no-referrer");
    }
  });
}

const SANITIZE = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "button", "textarea", "select", "option", "iframe", "object", "embed", "link", "meta", "base"],
  FORBID_ATTR: ["style", "srcset", "formaction", "action"],
  ADD_ATTR: ["target"],
  ALLOW_DATA_ATTR: false,
};

export function sanitizeHtml(html: string): string {
  installHooks();
  return DOMPurify.sanitize(html, SANITIZE) as unknown as string;
}

/** Markdown source -> safe HTML string. */
export function renderMarkdown(source: string): string {
  const html = marked.parse(source, { async: false }) as string;
  return sanitizeHtml(html);
}
