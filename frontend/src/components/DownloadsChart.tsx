import type { DownloadDay } from "../api/types";
import { formatNumber } from "../lib/format";

const W = 300;
const H = 64;
const PAD = 2;

/** Downloads per day as a small inline bar chart. */
export function DownloadsChart({ data, days = 30 }: { data: DownloadDay[]; days?: number }) {
  const series = [...data].sort((a, b) => a.day.localeCompare(b.day));
  const total = series.reduce((s, d) => s + d.count, 0);
  const max = Math.max(1, ...series.map((d) => d.count));
  const n = Math.max(series.length, 1);
  const slot = (W - PAD * 2) / n;
  const barW = Math.max(1, slot * 0.75);
  const label = `Downloads over the last ${days} days: ${formatNumber(total)} in total`;
  return (
    <figure className="downloads-chart" data-testid="downloads-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} preserveAspectRatio="none" width="100%" height={H}>
        <title>{label}</title>
        <line x1={0} x2={W} y1={H - 0.5} y2={H - 0.5} className="chart-axis" />
        {series.map((d, i) => {
          const h = d.count === 0 ? 0 : Math.max(1.5, ((H - PAD * 2) * d.count) / max);
          return (
            <rect key={d.day} className="chart-bar" x={PAD + i * slot + (slot - barW) / 2} y={H - h - 0.5} width={barW} height={h}>
              <title>{`${d.day}: ${formatNumber(d.count)}`}</title>
            </rect>
          );
        })}
      </svg>
      <figcaption>
        <strong>{formatNumber(total)}</strong> downloads in the last {days} days
      </figcaption>
    </figure>
  );
}
