/**
 * [ours] The agent's topics besides `<prefix>/status` (src/mqtt/session.ts), in one place; what
 * travels on them is described in docs/remote.md and docs/schemas/.
 */

/** Retained birth record, published at each connect. */
export const infoTopic = (prefix: string) => `${prefix}/info`;

/** Requests: `<prefix>/cmd/<name>`. The reply topics one level below do not match this filter. */
export const commandFilter = (prefix: string) => `${prefix}/cmd/+`;

export const commandTopic = (prefix: string, name: string) => `${prefix}/cmd/${name}`;

/** Where a reply goes when the request carried no MQTT 5 response topic. */
export const replyTopic = (prefix: string, name: string) => `${prefix}/cmd/${name}/reply`;

/** The command a request topic names, or undefined when the topic is not a request topic. */
export function commandName(prefix: string, topic: string): string | undefined {
  const head = `${prefix}/cmd/`;
  if (!topic.startsWith(head)) return undefined;
  const name = topic.slice(head.length);
  return name === "" || name.includes("/") ? undefined : name;
}
