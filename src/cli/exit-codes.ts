/** sysexits.h and LSB codes shared by the CLI commands; `run` has its own in src/agent/run.ts. */
export const EXIT_OK = 0;
/** A check failed, the agent refused, or an operation could not be done. */
export const EXIT_FAILURE = 1;
/** LSB "program is not running", as `systemctl status` uses it for an inactive unit. */
export const EXIT_NOT_RUNNING = 3;
/** EX_USAGE: bad command line. */
export const EXIT_USAGE = 64;
