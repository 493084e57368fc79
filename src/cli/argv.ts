/** A usage problem the command line can fix; main prints it in one line with a pointer to --help. */
export class UsageError extends Error {}

/**
 * The prefix the launcher (bin/cw-agent) puts before every argument that Node.js would otherwise
 * take for its own --env-file option, and before every argument that already starts with it.
 */
export const ESCAPE_PREFIX = "--cw-agent-arg=";

/** The arguments as the operator typed them: the launcher's prefix taken off once. */
export function unescapeArguments(args: readonly string[]): string[] {
  return args.map((arg) => (arg.startsWith(ESCAPE_PREFIX) ? arg.slice(ESCAPE_PREFIX.length) : arg));
}
