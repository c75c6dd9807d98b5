import { useEffect, useId, useMemo, useState, type FormEvent } from "react";
import { useNavigate } from "react-router-dom";
import { errorMessage } from "../api/client";
import { createEval } from "../api/evals";
import { listProviders } from "../api/providers";
import type { VersionSummary } from "../api/types";
import { useAsync } from "../lib/useAsync";
import { ErrorMessage, Loading } from "./Feedback";

interface Props {
  /** "owner/name" */
  environment: string;
  versions: VersionSummary[];
  defaultVersion?: string;
}

export const EVAL_LIMITS = {
  examples: { min: 1, max: 10_000, initial: 10 },
  rollouts: { min: 1, max: 64, initial: 1 },
  temperature: { min: 0, max: 2, initial: 0.7 },
  maxTokens: { min: 1, max: 131_072, initial: 1024 },
};

/** Start a hosted evaluation of this environment, then go to its page. */
export function RunEvalForm({ environment, versions, defaultVersion }: Props) {
  const id = useId();
  const navigate = useNavigate();
  const providers = useAsync(() => listProviders(), []);
  const selectable = useMemo(() => versions.filter((v) => !v.yanked || v.version === defaultVersion), [versions, defaultVersion]);
  const [version, setVersion] = useState(defaultVersion ?? selectable[0]?.version ?? "latest");
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [examples, setExamples] = useState(String(EVAL_LIMITS.examples.initial));
  const [rollouts, setRollouts] = useState(String(EVAL_LIMITS.rollouts.initial));
  const [temperature, setTemperature] = useState(String(EVAL_LIMITS.temperature.initial));
  const [maxTokens, setMaxTokens] = useState(String(EVAL_LIMITS.maxTokens.initial));
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (defaultVersion) setVersion(defaultVersion);
  }, [defaultVersion]);

  // choose the first provider/model once they arrive
  useEffect(() => {
    const list = providers.data;
    if (!list || list.length === 0 || provider) return;
    const first = list.find((p) => p.models.length > 0) ?? list[0];
    setProvider(first.name);
    setModel(first.models[0] ?? "");
  }, [providers.data, provider]);

  const models = providers.data?.find((p) => p.name === provider)?.models ?? [];

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const n = Number(examples);
    const r = Number(rollouts);
    const t = Number(temperature);
    const mt = Number(maxTokens);
    if (!provider || !model) return setError("Choose a provider and a model.");
    if (!Number.isInteger(n) || n < EVAL_LIMITS.examples.min || n > EVAL_LIMITS.examples.max) return setError("Examples must be a whole number between 1 and 10,000.");
    if (!Number.isInteger(r) || r < EVAL_LIMITS.rollouts.min || r > EVAL_LIMITS.rollouts.max) return setError("Rollouts per example must be between 1 and 64.");
    if (!Number.isFinite(t) || t < EVAL_LIMITS.temperature.min || t > EVAL_LIMITS.temperature.max) return setError("Temperature must be between 0 and 2.");
    if (!Number.isInteger(mt) || mt < EVAL_LIMITS.maxTokens.min || mt > EVAL_LIMITS.maxTokens.max) return setError("Max tokens must be a positive whole number.");
    setSubmitting(true);
    try {
      const evalId = await createEval({
        environment,
        version,
        model: `${provider}/${model}`,
        num_examples: n,
        rollouts_per_example: r,
        sampling_args: { temperature: t, max_tokens: mt },
      });
      navigate(`/evals/${encodeURIComponent(evalId)}`);
    } catch (err) {
      setError(errorMessage(err));
      setSubmitting(false);
    }
  }

  if (providers.error) return <ErrorMessage error={providers.error} title="Could not load inference providers" onRetry={providers.reload} />;
  if (!providers.data) return <Loading label="Loading providers…" />;
  if (providers.data.length === 0) return <p className="empty">No inference provider is configured on this hub.</p>;

  return (
    <form className="form run-eval" onSubmit={onSubmit} aria-labelledby={`${id}-title`} data-testid="run-eval-form" noValidate>
      <h3 id={`${id}-title`}>Run an evaluation</h3>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-version`}>Version</label>
          <select id={`${id}-version`} value={version} onChange={(e) => setVersion(e.target.value)} data-testid="run-eval-version">
            {selectable.length === 0 && <option value="latest">latest</option>}
            {selectable.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version}
                {v.yanked ? " (yanked)" : ""}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-provider`}>Provider</label>
          <select
            id={`${id}-provider`}
            value={provider}
            onChange={(e) => {
              setProvider(e.target.value);
              setModel(providers.data?.find((p) => p.name === e.target.value)?.models[0] ?? "");
            }}
            data-testid="run-eval-provider"
          >
            {providers.data.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-model`}>Model</label>
          <select id={`${id}-model`} value={model} onChange={(e) => setModel(e.target.value)} data-testid="run-eval-model" disabled={models.length === 0}>
            {models.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-examples`}>Examples</label>
          <input id={`${id}-examples`} type="number" inputMode="numeric" min={1} max={10000} step={1} value={examples} onChange={(e) => setExamples(e.target.value)} data-testid="run-eval-examples" required />
        </div>
        <div className="field">
          <label htmlFor={`${id}-rollouts`}>Rollouts per example</label>
          <input id={`${id}-rollouts`} type="number" inputMode="numeric" min={1} max={64} step={1} value={rollouts} onChange={(e) => setRollouts(e.target.value)} data-testid="run-eval-rollouts" required />
        </div>
        <div className="field">
          <label htmlFor={`${id}-temperature`}>Temperature</label>
          <input id={`${id}-temperature`} type="number" inputMode="decimal" min={0} max={2} step={0.1} value={temperature} onChange={(e) => setTemperature(e.target.value)} data-testid="run-eval-temperature" required />
        </div>
        <div className="field">
          <label htmlFor={`${id}-max-tokens`}>Max tokens</label>
          <input id={`${id}-max-tokens`} type="number" inputMode="numeric" min={1} step={1} value={maxTokens} onChange={(e) => setMaxTokens(e.target.value)} data-testid="run-eval-max-tokens" required />
        </div>
      </div>
      {error && (
        <p className="alert alert-error" role="alert" data-testid="run-eval-error">
          {error}
        </p>
      )}
      <button type="submit" className="btn btn-primary" disabled={submitting} data-testid="run-eval-submit">
        {submitting ? "Starting…" : "Start evaluation"}
      </button>
    </form>
  );
}
