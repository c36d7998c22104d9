// Builds the pages' script into app/web/static/app.js, which iomesh-web
// serves (and compiles in): one ES module, minified, no hashes in the name.
//   npx vite build --config app/web/frontend/vite.config.mjs
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  logLevel: 'warn',
  // node_modules is a link into a cache (scripts/ts-env): the output must not
  // depend on where that cache is.
  resolve: { preserveSymlinks: true },
  build: {
    outDir: here('../static'),
    emptyOutDir: false,
    minify: true,
    lib: {
      entry: here('./main.ts'),
      formats: ['es'],
      fileName: () => 'app.js',
    },
  },
});
