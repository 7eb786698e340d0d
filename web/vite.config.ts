import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The Python API (uvicorn) listens here during development.
const API_TARGET = 'http://127.0.0.1:8000';
const API_PATHS = ['/v1', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs'];

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: Object.fromEntries(API_PATHS.map((path) => [path, { target: API_TARGET }])),
  },
  build: {
    // The Python server serves this directory at "/" with an SPA fallback.
    outDir: '../src/agentic/ui/static',
    emptyOutDir: true,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
    testTimeout: 15_000,
    // One jsdom and one module graph per worker instead of per file: halves the run (MUI's import and jsdom's
    // start-up dominate). The setup file resets the DOM, handlers, storage and cookies after every test.
    isolate: false,
  },
});
