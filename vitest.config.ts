import { defineConfig } from "vitest/config";
import { scaled } from "./test/time-scale.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: scaled(60_000),
    hookTimeout: scaled(60_000),
    // Integration tests start real brokers and agent processes; two cores are the norm here.
    maxWorkers: 2,
  },
});
