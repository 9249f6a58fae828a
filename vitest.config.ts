import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

export default defineConfig({
  test: {
    // Once per run, whichever projects run: the tests spawn bin/scopelink-agent.js, which
    // runs the agent's bundle (out/agent/cli.mjs), built here from the current sources.
    globalSetup: ['scripts/build-agent.mjs'],
    projects: [
      {
        test: {
          name: 'agent',
          environment: 'node',
          include: ['test/agent/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'server',
          environment: 'node',
          include: ['test/server/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'main',
          environment: 'node',
          include: ['test/main/**/*.test.ts'],
          setupFiles: ['test/main/setup-electron-mock.ts'],
        },
      },
      {
        plugins: [react()],
        test: {
          name: 'renderer',
          environment: 'jsdom',
          include: ['test/renderer/**/*.test.{ts,tsx}'],
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Whole-system tests start real processes and ports: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
