import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Where `npm run dev` forwards API and package-index calls (a hub started locally,
// e.g. `envhub serve` / `uvicorn hub.app:app --port 8000`).
const hub = process.env.ENVHUB_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      "/api": { target: hub, changeOrigin: false },
      "/index": { target: hub, changeOrigin: false },
    },
  },
  preview: {
    proxy: {
      "/api": { target: hub, changeOrigin: false },
      "/index": { target: hub, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    testTimeout: 30_000,
  },
});
