import type { AgentState } from "../lifecycle/lifecycle.js";
import { prepare, type SqliteDatabase, type SqliteStatement } from "./sqlite.js";

/** The last lifecycle status the agent recorded, so the CLI can report on a stopped agent. */
export interface RecordedStatus {
  readonly state: AgentState;
  readonly since: number;
  readonly pairingId: string | undefined;
  readonly lastError: string | undefined;
  readonly pid: number;
  readonly updatedAt: number;
}

/**
 * The agent's last lifecycle status in the `agent_status` table of the agent's database, so the CLI
 * can report on a stopped agent: state, since when, pairing ID, last error, pid.
 */
export class StatusRecord {
  private readonly writeRow: SqliteStatement;
  private readonly readRow: SqliteStatement;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly now: () => number,
  ) {
    // Prepared once (see sqlite.ts for why nothing may become garbage).
    this.writeRow = prepare(
      database,
      "INSERT OR REPLACE INTO agent_status (id, state, since, pairing_id, last_error, pid, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)",
    );
    this.readRow = prepare(
      database,
      "SELECT state, since, pairing_id, last_error, pid, updated_at FROM agent_status WHERE id = 1",
    );
  }

  /**
   * Written without an fsync of its own: the row is information for the CLI, and a state change
   * happens several times in each start-up, where a flush to an SD card costs tens of milliseconds
   * and wear. WAL keeps the commit atomic, so a power cut loses at most the newest status (the
   * agent writes a fresh one at its next start), never the file; the next credentials write, which
   * is synchronous=FULL, flushes it along.
   */
  record(status: { state: AgentState; since: number; pairingId?: string; lastError?: string }): void {
    this.database.exec("PRAGMA synchronous = NORMAL");
    try {
      this.writeRow.run(
        status.state,
        status.since,
        status.pairingId ?? null,
        status.lastError ?? null,
        process.pid,
        this.now(),
      );
    } finally {
      this.database.exec("PRAGMA synchronous = FULL");
    }
  }

  last(): RecordedStatus | undefined {
    const row = this.readRow.get() as
      | {
          state: AgentState;
          since: number;
          pairing_id: string | null;
          last_error: string | null;
          pid: number;
          updated_at: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      state: row.state,
      since: row.since,
      pairingId: row.pairing_id ?? undefined,
      lastError: row.last_error ?? undefined,
      pid: row.pid,
      updatedAt: row.updated_at,
    };
  }
}
