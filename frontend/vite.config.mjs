import { defineConfig } from 'vite';
import { viteCommonjs } from '@originjs/vite-plugin-commonjs';

// Build straight into the Django app's static dir; templates/studies/viewer.html loads the entry by its
// stable name ({% static 'viewer/viewer.js' %}). See shared/VIEWER_GUIDE.md §2 for why each option is here.
export default defineConfig({
  base: '/static/viewer/', // = STATIC_URL + 'viewer/': the decode worker, wasm and chunk URLs derive from it
  plugins: [viteCommonjs()], // dev server only: CJS codec/emscripten glue and dicom-parser served unbundled
  build: {
    outDir: '../studies/static/viewer',
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    chunkSizeWarningLimit: 5000, // Cornerstone + vtk.js is one ~4 MB entry; nothing to gain by splitting it
    rollupOptions: {
      input: { viewer: 'src/viewer/main.js' },
      output: { entryFileNames: '[name].js' }, // stable entry name, hashed chunks/assets
    },
  },
  worker: { format: 'es' }, // the DICOM decode worker is an ES-module worker
  optimizeDeps: {
    // dev server only: one shared metadata registry between core and the (excluded) image loader
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser', '@cornerstonejs/metadata', '@cornerstonejs/utils'],
  },
  server: {
    // dev server: browse :5173; pages, API, DICOM and login come from `manage.py runserver` on :8000
    proxy: Object.fromEntries(
      ['/login', '/logout', '/studies', '/reads', '/api', '/dicom'].map((p) => [p, 'http://127.0.0.1:8000']),
    ),
  },
});
