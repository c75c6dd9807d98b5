import { useEffect, useRef, useState, type RefObject } from "react";
import type { LeaderboardRow } from "../api/types";
import { formatReward } from "../lib/format";

/** Wide: model names left of the bars. Compact (narrow containers, e.g. phones): names above. */
// `left` fits a 26-character label (the longest before "…") at 12px in wide fonts (DejaVu Sans).
const WIDE = { rowH: 26, left: 200, width: 640, labelDy: 4 };
const COMPACT = { rowH: 40, left: 12, width: 360, labelDy: -9 };
const COMPACT_BELOW_PX = 520;
const TOP = 8;
const BOTTOM = 26;
const RIGHT = 16;

/** x-domain: [0, 1] when every interval fits (rewards usually do), else the data range padded. */
export function chartDomain(rows: Pick<LeaderboardRow, "ci_low" | "ci_high" | "mean_reward">[]): [number, number] {
  const lows = rows.map((r) => Math.min(r.ci_low, r.mean_reward));
  const highs = rows.map((r) => Math.max(r.ci_high, r.mean_reward));
  let lo = Math.min(0, ...lows);
  let hi = Math.max(1, ...highs);
  if (hi - lo < 1e-9) hi = lo + 1;
  if (lo < 0 || hi > 1) {
    const pad = (hi - lo) * 0.05;
    lo -= lo < 0 ? pad : 0;
    hi += hi > 1 ? pad : 0;
  }
  return [lo, hi];
}

function ticks(lo: number, hi: number, count = 5): number[] {
  const step = (hi - lo) / (count - 1);
  return Array.from({ length: count }, (_, i) => lo + i * step);
}

function truncate(s: string, max = 26): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Mean reward per model with its confidence interval as an error bar. */
function useNarrow(ref: RefObject<HTMLElement | null>): boolean {
  const [narrow, setNarrow] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver((entries) => setNarrow(entries[0].contentRect.width < COMPACT_BELOW_PX));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return narrow;
}

export function CIChart({ rows }: { rows: LeaderboardRow[] }) {
  const ref = useRef<HTMLElement>(null);
  const compact = useNarrow(ref);
  const { rowH: ROW_H, left: LEFT, width: WIDTH, labelDy } = compact ? COMPACT : WIDE;
  const [lo, hi] = chartDomain(rows);
  const plotW = WIDTH - LEFT - RIGHT;
  const x = (v: number) => LEFT + ((v - lo) / (hi - lo)) * plotW;
  const height = TOP + rows.length * ROW_H + BOTTOM;
  const axisY = TOP + rows.length * ROW_H;
  return (
    <figure className={`ci-chart${compact ? " is-compact" : ""}`} data-testid="ci-chart" ref={ref}>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} width="100%" role="img" aria-label={`Mean reward with confidence intervals for ${rows.length} models`}>
        <title>Mean reward with confidence intervals</title>
        {ticks(lo, hi).map((t) => (
          <g key={t} className="chart-tick">
            <line x1={x(t)} x2={x(t)} y1={TOP} y2={axisY} className="chart-grid" />
            <text x={x(t)} y={axisY + 16} textAnchor="middle">
              {t.toFixed(2)}
            </text>
          </g>
        ))}
        <line x1={LEFT} x2={WIDTH - RIGHT} y1={axisY} y2={axisY} className="chart-axis" />
        {rows.map((r, i) => {
          const cy = TOP + i * ROW_H + ROW_H / 2 + (compact ? 7 : 0);
          const x1 = x(r.ci_low);
          const x2 = x(r.ci_high);
          return (
            <g key={`${r.model}-${r.version}-${i}`} className="ci-row" data-testid="ci-bar" data-model={r.model}>
              <title>{`${r.model}: ${formatReward(r.mean_reward)} (CI ${formatReward(r.ci_low)}–${formatReward(r.ci_high)})`}</title>
              <text x={compact ? LEFT : LEFT - 8} y={cy + labelDy} textAnchor={compact ? "start" : "end"} className="ci-label">
                {truncate(r.model, compact ? 44 : 26)}
              </text>
              <line className="ci-whisker" x1={x1} x2={x2} y1={cy} y2={cy} data-testid="ci-whisker" />
              <line className="ci-whisker" x1={x1} x2={x1} y1={cy - 5} y2={cy + 5} />
              <line className="ci-whisker" x1={x2} x2={x2} y1={cy - 5} y2={cy + 5} />
              <circle className="ci-mean" cx={x(r.mean_reward)} cy={cy} r={4.5} data-testid="ci-mean" />
            </g>
          );
        })}
      </svg>
      <figcaption>Dots: mean reward. Bars: confidence interval.</figcaption>
    </figure>
  );
}
