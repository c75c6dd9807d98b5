// npm run gen:api — regenerate src/api/schema.d.ts from openapi.json (+ openapi.pending.json).
import { generateTypes, schemaFile } from "./openapi-lib.mjs";

generateTypes(schemaFile);
console.log("wrote src/api/schema.d.ts");
