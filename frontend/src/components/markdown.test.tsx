import { render } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import Markdown from "./Markdown";
import { renderMarkdown } from "./markdown";

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

function eventHandlerAttributes(root: Element): string[] {
  const found: string[] = [];
  for (const el of [root, ...root.querySelectorAll("*")]) {
    for (const attr of el.getAttributeNames()) if (attr.toLowerCase().startsWith("on")) found.push(`${el.tagName}.${attr}`);
  }
  return found;
}

describe("renderMarkdown", () => {
  it("renders GFM tables, task lists and strikethrough", () => {
    const root = dom(renderMarkdown("| model | reward |\n|---|---:|\n| a | 0.5 |\n\n- [x] done\n- [ ] todo\n\n~~old~~\n"));
    const table = root.querySelector("table");
    expect(table).not.toBeNull();
    expect([...table!.querySelectorAll("th")].map((th) => th.textContent)).toEqual(["model", "reward"]);
    expect(table!.querySelector("td")?.textContent).toBe("a");
    expect(root.querySelectorAll('input[type="checkbox"]').length).toBe(2);
    expect(root.querySelector("del")?.textContent).toBe("old");
  });

  it("highlights fenced code blocks by language", () => {
    const root = dom(renderMarkdown("```python\ndef load_environment():\n    return 1\n```\n"));
    const code = root.querySelector("pre > code");
    expect(code?.className).toContain("language-python");
    expect(code?.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(code?.textContent).toContain("load_environment");
  });

  it("escapes code in unknown languages", () => {
    const root = dom(renderMarkdown("```nosuchlang\n<b>x</b>\n```\n"));
    expect(root.querySelector("pre code b")).toBeNull();
    expect(root.querySelector("pre code")?.textContent).toContain("<b>x</b>");
  });

  it("strips scripts, event handlers, javascript: URLs and styles", () => {
    const evil = [
      "# Title",
      "<script>window.pwned = true</script>",
      '<img src="x.png" onerror="window.pwned = true">',
      '<a href="javascript:alert(1)" onclick="alert(2)">click</a>',
      '<div onmouseover="alert(3)" style="position:fixed">hover</div>',
      "<iframe src=\"https://evil.example\"></iframe>",
      "<style>body{display:none}</style>",
      '<svg><script>alert(4)</script><a xlink:href="javascript:alert(5)">x</a></svg>',
      "[md link](javascript:alert(6))",
    ].join("\n\n");
    const html = renderMarkdown(evil);
    const root = dom(html);
    expect(root.querySelector("script")).toBeNull();
    expect(root.querySelector("iframe")).toBeNull();
    expect(root.querySelector("style")).toBeNull();
    expect(eventHandlerAttributes(root)).toEqual([]);
    expect(root.querySelector("[style]")).toBeNull();
    for (const a of root.querySelectorAll("a")) expect(a.getAttribute("href") ?? "").not.toMatch(/^\s*javascript:/i);
    expect(html).not.toMatch(/javascript:/i);
    expect(root.querySelector("h1")?.textContent).toBe("Title");
    expect(root.querySelector("img")?.getAttribute("src")).toBe("x.png");
  });

  it("opens external links safely", () => {
    const root = dom(renderMarkdown("[site](https://example.com)"));
    const a = root.querySelector("a")!;
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toContain("noopener");
  });
});

describe("<Markdown>", () => {
  it("renders an inert README into the DOM", () => {
    (window as unknown as { pwned?: boolean }).pwned = false;
    const { container } = render(<Markdown source={'Hello\n\n<script>window.pwned = true</script>\n\n<img src=x onerror="window.pwned = true">\n\n| a |\n|---|\n| 1 |'} />);
    expect(container.querySelector("script")).toBeNull();
    expect(eventHandlerAttributes(container)).toEqual([]);
    expect(container.querySelector("table")).not.toBeNull();
    expect((window as unknown as { pwned?: boolean }).pwned).toBe(false);
  });
});
