import type { JobStatus } from "../api/types";

const LABELS: Record<JobStatus, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
  timed_out: "Timed out",
};

export function StatusBadge({ status, testId }: { status: JobStatus; testId?: string }) {
  return (
    <span className={`badge status status-${status}`} data-testid={testId} data-status={status}>
      {LABELS[status] ?? status}
    </span>
  );
}
