// npm run check:api — fail when src/api/schema.d.ts is not what `npm run gen:api` would
// produce now (a stale typed client), so `make test` catches an API change.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateTypes, schemaFile } from "./openapi-lib.mjs";

const dir = mkdtempSync(join(tmpdir(), "envhub-api-check-"));
try {
  const fresh = join(dir, "schema.d.ts");
  generateTypes(fresh);
  let committed = "";
  try {
    committed = readFileSync(schemaFile, "utf8");
  } catch {
    committed = "";
  }
  if (committed !== readFileSync(fresh, "utf8")) {
    console.error("src/api/schema.d.ts is stale: it differs from what openapi.json (+ openapi.pending.json) generates.");
    console.error("Run `npm run gen:api` in frontend/, then `npm run build` to see what the change breaks, and commit both.");
    process.exit(1);
  }
  console.log("src/api/schema.d.ts is up to date");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
