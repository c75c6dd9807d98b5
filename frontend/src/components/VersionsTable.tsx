import { Link } from "react-router-dom";
import type { VersionSummary } from "../api/types";
import { formatBytes, formatDate, shortHash } from "../lib/format";

export function VersionsTable({ owner, name, versions, current }: { owner: string; name: string; versions: VersionSummary[]; current?: string }) {
  return (
    <div className="table-wrap" role="region" aria-label="Versions" tabIndex={0}>
      <table className="table" data-testid="versions-table">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Content hash</th>
            <th scope="col">Published</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Runtime</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version} data-testid="version-row" aria-current={v.version === current ? "true" : undefined}>
              <th scope="row">
                <Link to={`/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/v/${encodeURIComponent(v.version)}`}>{v.version}</Link>
                {v.version === current && <span className="badge badge-muted">viewing</span>}
                {v.yanked && (
                  <span className="badge badge-warn" title={v.yanked_reason ? `Yanked: ${v.yanked_reason}` : "Yanked"} data-testid="yanked-badge">
                    yanked
                  </span>
                )}
              </th>
              <td>
                <code className="hash" title={v.content_hash}>
                  {shortHash(v.content_hash)}
                </code>
              </td>
              <td>{formatDate(v.created_at)}</td>
              <td className="num">{formatBytes(v.size)}</td>
              <td>{v.runtime}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
