import { cleanup, configure } from "@testing-library/react";
import { afterEach, vi } from "vitest";
import { setCsrfToken } from "../api/client";

// findBy*/waitFor: generous on busy 2-core CI machines (they return as soon as they pass).
configure({ asyncUtilTimeout: 5000 });

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  setCsrfToken(null);
});
