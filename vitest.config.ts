import { defineConfig } from "vitest/config";
import { scaled } from "./test/time-scale.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    // Integration tests start real brokers and agent processes, and many wait on real time (a 30 s
    // rejection window, backoffs, processes starting): four workers keep two cores busy meanwhile.
    maxWorkers: 4,
    // `npm test` measures coverage (--coverage); the emulated ARM runs call vitest without it.
    coverage: {
      provider: "v8",
      include: ["src/**/*.ts"],
      reporter: ["text-summary"],
      reportOnFailure: true,
      // The floor is what the suite reaches in-process (agent processes spawned by the integration
      // tests are not measured): 76 % of statements, 62 % of branches, 77 % of functions and lines.
      thresholds: { statements: 75, branches: 60, functions: 75, lines: 76 },
    },
  },
});
