import type { Install } from "../api/types";
import { CopyButton } from "./CopyButton";

const KINDS: { key: "envhub" | "pip" | "uv" | "prime"; label: string }[] = [
  { key: "envhub", label: "envhub" },
  { key: "pip", label: "pip" },
  { key: "uv", label: "uv" },
  { key: "prime", label: "prime" },
];

export function InstallSnippets({ install }: { install: Install }) {
  return (
    <section className="card install" aria-labelledby="install-title">
      <h2 id="install-title" className="card-title">
        Install
      </h2>
      <ul className="snippets">
        {KINDS.filter((k) => install[k.key]).map(({ key, label }) => (
          <li key={key} className="snippet" data-testid={`install-${key}`}>
            <span className="snippet-label">{label}</span>
            <code className="snippet-code">{install[key]}</code>
            <CopyButton text={install[key]} label={`Copy ${label} install command`} testId={`copy-install-${key}`} />
          </li>
        ))}
        {install.index_url && (
          <li className="snippet" data-testid="install-index">
            <span className="snippet-label">index</span>
            <code className="snippet-code">{install.index_url}</code>
            <CopyButton text={install.index_url} label="Copy package index URL" testId="copy-install-index" />
          </li>
        )}
      </ul>
    </section>
  );
}
