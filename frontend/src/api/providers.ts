/** Inference providers and the models they serve (for the run-evaluation form). */
import { api, unwrap } from "./client";
import type { Provider } from "./types";

export function listProviders(): Promise<Provider[]> {
  return unwrap(api.GET("/api/v1/providers"));
}
