/**
 * `npm start`: runs the agent's main job. With a Connectware configured (CYBUS_MQTT_HOST set in the
 * environment) that is `cw-agent run` against it; without one, the demo against the bundled
 * Connectware simulator.
 */
if (process.env.CYBUS_MQTT_HOST?.trim()) {
  const { runAgent } = await import("../src/agent/run.js");
  process.exit(await runAgent(process.env));
} else {
  process.stdout.write(
    "CYBUS_MQTT_HOST is not set: running the demo against the bundled Connectware simulator.\n\n",
  );
  await import("./demo.js");
}
