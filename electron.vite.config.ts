import { defineConfig } from 'electron-vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  main: {
    build: {
      rollupOptions: { input: { index: 'src-main/index.ts' } },
      // keytar is an optional dependency, which electron-vite would otherwise bundle.
      externalizeDeps: { include: ['sqlite3', 'keytar'] },
    },
  },
  preload: {
    build: {
      rollupOptions: {
        input: { index: 'src-main/preload.ts' },
        // A sandboxed preload cannot be an ES module.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
      // Nor can it require packages: bundle whatever it imports.
      externalizeDeps: false,
    },
  },
  renderer: {
    root: 'src-renderer',
    build: { rollupOptions: { input: 'src-renderer/index.html' } },
    plugins: [react()],
  },
});
