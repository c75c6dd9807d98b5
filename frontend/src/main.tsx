import { StrictMode, useLayoutEffect } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { AppRoutes } from "./App";
import { SessionProvider } from "./lib/session";
import "./styles.css";

// Performance marks for the browser tests and bench/catalog_render.py: the entry module
// has evaluated (`envhub:main`), React committed the first tree (`envhub:first-commit`).
// The home and catalog data requests start before both: the hub puts
// `<link rel="preload" as="fetch">` for them into index.html (hub/web/preload.py).
performance.mark("envhub:main");

function FirstCommitMark() {
  useLayoutEffect(() => {
    if (performance.getEntriesByName("envhub:first-commit").length === 0) performance.mark("envhub:first-commit");
  }, []);
  return null;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <FirstCommitMark />
    <BrowserRouter>
      <SessionProvider>
        <AppRoutes />
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
