/** sysexits.h and LSB exit codes of `cw-agent run` and the CLI commands. */
export const EXIT_OK = 0;
/** A check failed, the agent refused, or an operation could not be done. */
export const EXIT_FAILURE = 1;
/** LSB "program is not running", as `systemctl status` uses it for an inactive unit. */
export const EXIT_NOT_RUNNING = 3;
/** EX_USAGE: bad command line. */
export const EXIT_USAGE = 64;
/** EX_NOINPUT: a settings file (--env-file, the service's or the instance's) cannot be read. */
export const EXIT_NOINPUT = 66;
/**
 * EX_DATAERR: the database was written by a newer cw-agent. Only a newer agent (or moving the file
 * aside) can fix that, so systemd must not restart on it.
 */
export const EXIT_DATABASE_TOO_NEW = 65;
/** EX_CANTCREAT: the state directory cannot be created or written, or belongs to another user. */
export const EXIT_CANTCREAT = 73;
/** EX_CONFIG: a setting is missing or invalid; systemd's RestartPreventExitStatus= keys on it. */
export const EXIT_CONFIG = 78;
/** EX_TEMPFAIL: the state directory is in use by another agent; systemd tries again later. */
export const EXIT_TEMPFAIL = 75;
/**
 * A restart asked for over MQTT: the same EX_TEMPFAIL, which the units' Restart=on-failure starts
 * again after RestartSec and RestartPreventExitStatus= leaves alone.
 */
export const EXIT_RESTART = EXIT_TEMPFAIL;
