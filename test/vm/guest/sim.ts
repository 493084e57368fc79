/**
 * The Connectware simulator as the guest's stand-in for a Connectware that outlives reboots and
 * power cuts: users granted in an earlier boot are loaded from a file the test driver keeps.
 * Fixed loopback ports; the registry starts unlocked so a pairing request is recorded at once.
 */
import { existsSync, readFileSync } from "node:fs";
import { startSimulator } from "../../../scripts/connectware-sim/simulator.js";

export const SIM_USERS_FILE = "/var/lib/vmtest/sim-users.json";
export const ADMIN_URL = "http://127.0.0.1:8099";

interface StoredUser {
  username: string;
  password: string;
  permissions: unknown[];
}

const sim = await startSimulator({
  host: "127.0.0.1",
  registryHttpPort: 8080,
  registryHttpsPort: 8443,
  mqttPort: 1883,
  mqttsPort: 8883,
  adminPort: 8099,
  unlockWindowMs: 24 * 3600_000,
});
sim.unlock();
if (existsSync(SIM_USERS_FILE)) {
  const users = JSON.parse(readFileSync(SIM_USERS_FILE, "utf8")) as StoredUser[];
  for (const user of users) sim.addUser(user.username, user.password, user.permissions);
}
process.stdout.write(`simulator ready (${sim.users().length} stored users)\n`);
const stop = () => void sim.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
