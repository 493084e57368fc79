import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real brokers and agent processes; two cores are the norm here.
    maxWorkers: 2,
    coverage: {
      enabled: true,
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
