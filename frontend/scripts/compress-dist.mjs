#!/usr/bin/env node
/**
 * Pre-compress the built assets: writes `<file>.br` and `<file>.gz` next to every text
 * asset in dist/assets (run by `npm run build` after `vite build`). The hub
 * (hub/web/spa.py) serves the best variant the browser accepts (br > gzip > identity).
 *
 * A variant is written only when it is smaller than the original; tiny files are left
 * alone. Everything here is Node's own zlib: no dependencies.
 *
 * Usage: node scripts/compress-dist.mjs [dist/assets]
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const COMPRESSIBLE = /\.(js|mjs|css|html|json|svg|txt|map|wasm|xml)$/i;
const MIN_BYTES = 1024;

const dir = resolve(process.argv[2] ?? join(import.meta.dirname, "..", "dist", "assets"));

function* files(root) {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

function kb(n) {
  return `${(n / 1024).toFixed(1)} kB`;
}

if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
  console.error(`compress-dist: ${dir} does not exist (run vite build first)`);
  process.exit(1);
}

let count = 0;
let raw = 0;
let brTotal = 0;
let gzTotal = 0;
for (const path of files(dir)) {
  if (!COMPRESSIBLE.test(path)) continue;
  const body = readFileSync(path);
  if (body.length < MIN_BYTES) continue;
  const br = brotliCompressSync(body, {
    params: {
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
  const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION });
  if (br.length < body.length) writeFileSync(`${path}.br`, br);
  if (gz.length < body.length) writeFileSync(`${path}.gz`, gz);
  count += 1;
  raw += body.length;
  brTotal += Math.min(br.length, body.length);
  gzTotal += Math.min(gz.length, body.length);
}

console.log(
  `compress-dist: ${count} files in ${relative(process.cwd(), dir) || "."}: ${kb(raw)} -> br ${kb(brTotal)}, gzip ${kb(gzTotal)}`,
);
