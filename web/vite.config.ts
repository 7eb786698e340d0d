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
    environment: 'node',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
