import type { InputHTMLAttributes } from "react";

interface Props extends Omit<InputHTMLAttributes<HTMLInputElement>, "id"> {
  id: string;
  label: string;
  /** Help text below the input (linked with aria-describedby). */
  hint?: string;
  /** Inline error: sets aria-invalid and is announced with the field. */
  error?: string | null;
  /** data-testid of the input; its error gets `${testId}-error`. */
  testId?: string;
}

/** A labelled input with an optional hint and an inline error tied to it. */
export function FormField({ id, label, hint, error, testId, ...input }: Props) {
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} data-testid={testId} {...input} />
      {error && (
        <p id={errorId} className="field-error" data-testid={testId ? `${testId}-error` : undefined}>
          <span aria-hidden="true">⚠ </span>
          {error}
        </p>
      )}
      {hint && (
        <p id={hintId} className="field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}
