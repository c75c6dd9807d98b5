/**
 * Inline form errors: which field an API refusal belongs to. Pages map the hub's stable
 * problem `code`s (never the `detail` text) to their fields; FastAPI body validation
 * (`validation-failed`, with `errors[].loc`) maps by the body field's name. Anything else
 * is a form-level error.
 */
import { ApiError, errorMessage } from "../api/client";

export type FieldErrors<K extends string> = Partial<Record<K | "form", string>>;

export function apiFieldErrors<K extends string>(error: unknown, byCode: Partial<Record<string, K>>, byParam: Partial<Record<string, K>> = {}): FieldErrors<K> {
  if (error instanceof ApiError) {
    const field = byCode[error.code];
    if (field) return { [field]: error.message } as FieldErrors<K>;
    const raw = (error.problem as { errors?: unknown } | null)?.errors;
    if (error.code === "validation-failed" && Array.isArray(raw)) {
      const out: FieldErrors<K> = {};
      for (const item of raw as { loc?: unknown[]; msg?: string }[]) {
        const name = item.loc?.[item.loc.length - 1];
        const target = typeof name === "string" ? byParam[name] : undefined;
        if (target && !out[target]) out[target] = item.msg ?? "Invalid value";
      }
      if (Object.keys(out).length) return out;
    }
  }
  return { form: errorMessage(error) } as FieldErrors<K>;
}

export function hasErrors(errors: Record<string, string | undefined>): boolean {
  return Object.values(errors).some(Boolean);
}
