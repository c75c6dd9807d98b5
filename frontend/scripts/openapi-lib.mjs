// Shared by gen-api.mjs and check-api.mjs: build the spec the typed client is generated from.
//
//   openapi.json          the hub's own dump (`python -m hub.openapi > frontend/openapi.json`)
//   openapi.pending.json  hand-written endpoints/schemas the web UI needs that the hub does
//                         not serve yet; overlaid on the dump, the hub's definitions win.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const schemaFile = join(root, "src/api/schema.d.ts");

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

export function mergedSpec() {
  const hub = JSON.parse(readFileSync(join(root, "openapi.json"), "utf8"));
  const pendingFile = join(root, "openapi.pending.json");
  const pending = existsSync(pendingFile) ? JSON.parse(readFileSync(pendingFile, "utf8")) : { paths: {}, components: { schemas: {} } };
  const spec = structuredClone(hub);
  spec.paths ??= {};
  spec.components ??= {};
  spec.components.schemas ??= {};
  const served = []; // pending entries the hub now defines itself
  for (const [path, item] of Object.entries(pending.paths ?? {})) {
    const target = (spec.paths[path] ??= {});
    for (const method of METHODS) {
      if (!item[method]) continue;
      if (target[method]) served.push(`${method.toUpperCase()} ${path}`);
      else target[method] = item[method];
    }
  }
  for (const [name, schema] of Object.entries(pending.components?.schemas ?? {})) {
    if (spec.components.schemas[name]) served.push(`schema ${name}`);
    else spec.components.schemas[name] = schema;
  }
  return { spec, served };
}

/** Generate TypeScript types for the merged spec into `outFile`. */
export function generateTypes(outFile) {
  const { spec, served } = mergedSpec();
  const dir = mkdtempSync(join(tmpdir(), "envhub-openapi-"));
  try {
    const specFile = join(dir, "openapi.json");
    writeFileSync(specFile, JSON.stringify(spec, null, 2));
    const bin = join(root, "node_modules/.bin", process.platform === "win32" ? "openapi-typescript.cmd" : "openapi-typescript");
    execFileSync(bin, [specFile, "-o", outFile], { stdio: ["ignore", "ignore", "inherit"] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (served.length) {
    console.warn(`The hub now defines these pending entries itself (its definitions are used; delete them from openapi.pending.json):\n  ${served.join("\n  ")}`);
  }
}
