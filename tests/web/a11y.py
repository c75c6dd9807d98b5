"""Accessibility checks shared by the browser tests: WCAG 2.x contrast computed from the
styles Chromium actually applies, and horizontal overflow at a viewport width."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

# WCAG 2.x relative luminance and contrast ratio over computed styles. The background of
# an element is the first opaque background up its ancestors, with translucent layers
# composited on the way; text color alpha and ancestors' opacity are composited too.
CONTRAST_JS = r"""
const parse = (c) => {
  const m = c.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, bottom) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
};
const lum = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => {
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const backgroundOf = (el) => {
  const layers = [];
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    const bg = parse(getComputedStyle(n).backgroundColor);
    if (bg && bg[3] > 0) {
      layers.push(bg);
      if (bg[3] >= 1) break;
    }
  }
  let color = [255, 255, 255, 1];
  if (!layers.length || layers[layers.length - 1][3] < 1) {
    const canvas = parse(getComputedStyle(document.documentElement).backgroundColor);
    if (canvas && canvas[3] > 0) color = over(canvas, color);
  }
  for (const layer of layers.reverse()) color = over(layer, color);
  return color;
};
const opacityOf = (el) => {
  let o = 1;
  for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
    o *= parseFloat(getComputedStyle(n).opacity);
  }
  return o;
};
const ringContrast = (el) => {
  const ring = parse(getComputedStyle(el).outlineColor);
  const behind = backgroundOf(el.parentElement || el);
  return ratio(over(ring, behind), behind);
};
"""

SCAN_JS = CONTRAST_JS + r"""
const results = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const done = new Set();
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  const el = t.parentElement;
  if (!el || done.has(el) || !t.textContent.trim()) continue;
  done.add(el);
  if (el.closest('svg, script, style, [aria-hidden="true"], .sr-only, :disabled')) continue;
  const rect = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  if (rect.width < 2 || rect.height < 2 || s.visibility !== 'visible') continue;
  const bg = backgroundOf(el);
  const fg = parse(s.color);
  const shown = over([fg[0], fg[1], fg[2], fg[3] * opacityOf(el)], bg);
  const size = parseFloat(s.fontSize);
  const bold = parseInt(s.fontWeight, 10) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  const names = typeof el.className === 'string' ? el.className.trim() : '';
  const cls = names ? '.' + names.split(/\s+/).join('.') : '';
  results.push({
    el: el.tagName.toLowerCase() + cls, text: t.textContent.trim().slice(0, 40),
    ratio: Math.round(ratio(shown, bg) * 100) / 100, need: large ? 3 : 4.5,
    fg: s.color, bg: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')',
  });
}
return results;
"""


def scan_contrast(page: Page) -> list[dict[str, Any]]:
    """Every visible text element of the page: its contrast ratio and the WCAG AA minimum
    (4.5:1, or 3:1 for large text). Disabled controls and hidden text are exempt."""
    found: list[dict[str, Any]] = page.evaluate(f"() => {{ {SCAN_JS} }}")
    return found


def low_contrast(page: Page) -> list[str]:
    return [f"{c['el']} {c['text']!r}: {c['ratio']} < {c['need']} ({c['fg']} on {c['bg']})"
            for c in scan_contrast(page) if c["ratio"] < c["need"]]


def body_contrast(page: Page) -> float:
    """Body text color against the page background."""
    value: float = page.evaluate(
        f"() => {{ {CONTRAST_JS}; const b = document.body;"
        " return ratio(parse(getComputedStyle(b).color), backgroundOf(b)); }")
    return value


def focus_ring_contrast(page: Page) -> float:
    """The focused element's outline color against what is behind it."""
    value: float = page.evaluate(
        f"() => {{ {CONTRAST_JS}; return ringContrast(document.activeElement); }}")
    return value


def horizontal_overflow(page: Page) -> tuple[int, int] | None:
    """(page width, viewport width) when the page scrolls sideways, else None."""
    width, viewport = page.evaluate(
        "[document.scrollingElement.scrollWidth, window.innerWidth]")
    return None if width <= viewport else (int(width), int(viewport))


