import { useEffect } from "react";
import { Link, useLocation } from "react-router-dom";
import { getFile, getTree } from "../api/environments";
import { isNotFound } from "../api/client";
import type { TreeEntry } from "../api/types";
import { formatBytes } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { Empty, ErrorMessage, Loading } from "./Feedback";
import { LazyCode, LazyMarkdown } from "./Lazy";

function FolderIcon() {
  return (
    <svg className="icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path d="M1.5 3.5h4l1.5 1.5h7.5v8h-13z" fill="currentColor" opacity="0.85" />
    </svg>
  );
}

function FileIcon() {
  return (
    <svg className="icon" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path d="M3.5 1.5h6l3 3v10h-9z" fill="none" stroke="currentColor" strokeWidth="1.2" />
      <path d="M9.5 1.5v3h3" fill="none" stroke="currentColor" strokeWidth="1.2" />
    </svg>
  );
}

interface Dir {
  name: string;
  path: string;
  dirs: Map<string, Dir>;
  files: TreeEntry[];
}

export function buildTree(entries: TreeEntry[]): Dir {
  const root: Dir = { name: "", path: "", dirs: new Map(), files: [] };
  for (const entry of entries) {
    const parts = entry.path.split("/").filter(Boolean);
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      let next = dir.dirs.get(part);
      if (!next) {
        next = { name: part, path: dir.path ? `${dir.path}/${part}` : part, dirs: new Map(), files: [] };
        dir.dirs.set(part, next);
      }
      dir = next;
    }
    dir.files.push(entry);
  }
  return root;
}

function DirView({ dir, selected, hrefFor }: { dir: Dir; selected?: string; hrefFor: (path: string) => string }) {
  const dirs = [...dir.dirs.values()].sort((a, b) => a.name.localeCompare(b.name));
  const files = [...dir.files].sort((a, b) => a.path.localeCompare(b.path));
  return (
    <ul className="tree">
      {dirs.map((d) => (
        <li key={d.path}>
          <details open={!selected || selected.startsWith(`${d.path}/`) || dir.path === ""}>
            <summary>
              <FolderIcon /> {d.name}
            </summary>
            <DirView dir={d} selected={selected} hrefFor={hrefFor} />
          </details>
        </li>
      ))}
      {files.map((f) => {
        const base = f.path.split("/").pop();
        return (
          <li key={f.path}>
            <Link to={hrefFor(f.path)} className="tree-file" aria-current={f.path === selected ? "page" : undefined} data-testid="tree-file">
              <FileIcon /> {base}
            </Link>
          </li>
        );
      })}
    </ul>
  );
}

function FilePane({ owner, name, version, path }: { owner: string; name: string; version: string; path: string }) {
  const file = useAsync(() => getFile(owner, name, version, path), [owner, name, version, path]);
  if (file.error) return isNotFound(file.error) ? <Empty>File not found: {path}</Empty> : <ErrorMessage error={file.error} onRetry={file.reload} />;
  if (!file.data || file.loading) return <Loading label={`Loading ${path}…`} />;
  const f = file.data;
  const isMarkdown = /\.(md|markdown)$/i.test(f.path);
  return (
    <div className="file-pane" data-testid="file-view">
      <div className="file-head">
        <code>{f.path}</code>
        <span className="muted">{formatBytes(f.size)}</span>
      </div>
      {f.truncated && <p className="alert alert-info">This file is large: only its beginning is shown.</p>}
      {f.encoding === "base64" ? (
        <Empty>Binary file ({formatBytes(f.size)}), not shown.</Empty>
      ) : isMarkdown ? (
        <LazyMarkdown source={f.content} testId="file-markdown" />
      ) : (
        <LazyCode code={f.content} path={f.path} />
      )}
    </div>
  );
}

/** The source archive of a version: a file tree and a highlighted file viewer. */
export function SourceBrowser({ owner, name, version, path }: { owner: string; name: string; version: string; path?: string }) {
  const tree = useAsync(() => getTree(owner, name, version), [owner, name, version]);
  // start loading the highlighter while the tree loads
  useEffect(() => {
    void import("./CodeView");
  }, []);
  const location = useLocation();
  const hrefFor = (p: string) => {
    const params = new URLSearchParams(location.search);
    params.set("tab", "files");
    params.set("path", p);
    return `${location.pathname}?${params.toString()}`;
  };
  if (tree.error) return <ErrorMessage error={tree.error} onRetry={tree.reload} />;
  if (!tree.data) return <Loading label="Loading files…" />;
  if (tree.data.length === 0) return <Empty>This version has no source archive.</Empty>;
  return (
    <div className="source-browser">
      <nav className="tree-pane" aria-label="Files">
        <p className="muted small">
          {tree.data.length} file{tree.data.length === 1 ? "" : "s"} ·{" "}
          {formatBytes(tree.data.reduce((s, f) => s + f.size, 0))}
        </p>
        <DirView dir={buildTree(tree.data)} selected={path} hrefFor={hrefFor} />
      </nav>
      <div className="file-pane-wrap">
        {path ? <FilePane owner={owner} name={name} version={version} path={path} /> : <Empty>Select a file to view its contents.</Empty>}
      </div>
    </div>
  );
}
