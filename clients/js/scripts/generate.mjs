// Generates src/generated from the checked-in IDL (idl/iomesh.json) with
// Codama: typed accounts, instructions, errors and PDAs on @solana/kit.
// `npm run generate` rewrites it; the test suite checks that the committed
// code is what this produces.
//
//   node scripts/generate.mjs [OUT_DIR]    (default src/generated)
import { createFromRoot } from 'codama';
import { rootNodeFromAnchor } from '@codama/nodes-from-anchor';
import { renderVisitor } from '@codama/renderers-js';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const idl = JSON.parse(readFileSync(resolve(here, '../../../idl/iomesh.json'), 'utf8'));
const out = resolve(process.argv[2] ?? resolve(here, '../src/generated'));
const codama = createFromRoot(rootNodeFromAnchor(idl));
await codama.accept(renderVisitor(out, { deleteFolderBeforeRendering: true, formatCode: true }));
console.log(`generated ${out}`);
