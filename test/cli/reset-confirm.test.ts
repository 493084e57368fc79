import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Output } from "../../src/cli/output.js";
import { resetCommand, type Terminal } from "../../src/cli/reset.js";
import { CredentialStore } from "../../src/storage/credential-store.js";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A stopped agent's state directory holding granted credentials. */
function stateDirWithCredentials(): string {
  const root = mkdtempSync(join(tmpdir(), "cw-agent-reset-"));
  roots.push(root);
  const stateDir = join(root, "state");
  const store = CredentialStore.open(stateDir);
  store.saveNew("gw-confirm", "secret-password-of-the-test");
  store.markGranted();
  store.close();
  return stateDir;
}

function capture(): Output & { text: () => string } {
  const lines: string[] = [];
  return { out: (text) => lines.push(text), err: (text) => lines.push(text), text: () => lines.join("\n") };
}

const terminal = (answer: string, questions: string[]): Terminal => ({
  isInteractive: true,
  ask: async (question) => {
    questions.push(question);
    return answer;
  },
});

const storedStatus = (stateDir: string) => {
  const store = CredentialStore.openReadOnly(stateDir);
  try {
    return store?.load()?.status;
  } finally {
    store?.close();
  }
};

describe("reset on a terminal", () => {
  it("asks first; anything but yes changes nothing, yes discards", async () => {
    const stateDir = stateDirWithCredentials();
    const env = {
      CYBUS_AGENT_NAME: "gw-confirm",
      CYBUS_MQTT_HOST: "127.0.0.1",
      CW_AGENT_STATE_DIR: stateDir,
    };
    const questions: string[] = [];

    const declined = capture();
    expect(await resetCommand(env, { yes: false }, declined, terminal("n", questions))).toBe(1);
    expect(declined.text()).toContain("nothing changed");
    expect(storedStatus(stateDir)).toBe("granted");
    expect(questions[0]).toMatch(/^Discard the credentials of agent "gw-confirm" in .+\? .+\[y\/N\] $/);

    const confirmed = capture();
    expect(await resetCommand(env, { yes: false }, confirmed, terminal("yes", questions))).toBe(0);
    expect(confirmed.text()).toContain('Discarded the granted credentials of "gw-confirm"');
    expect(confirmed.text()).not.toContain("secret-password-of-the-test");
    expect(storedStatus(stateDir)).toBeUndefined();
  });
});
