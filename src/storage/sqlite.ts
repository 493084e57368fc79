import Database from "better-sqlite3";

/**
 * better-sqlite3 12 (the major that still runs on Node 20) wraps its databases and statements in
 * node::ObjectWrap. On Node 24 that class removes an environment cleanup hook in its destructor and
 * aborts the process (`Assertion failed: (env) != nullptr`) when V8 collects the object outside a
 * JavaScript context, e.g. during an idle-time GC. Garbage that is never created cannot crash: every
 * database and statement opened through here stays reachable until the process exits, so callers
 * open few databases, prepare each statement once, and use `exec` for PRAGMAs whose result they do
 * not need (a `pragma()` call prepares a throw-away statement every time).
 * See https://github.com/WiseLibs/better-sqlite3/issues/1515.
 */
const keptAlive: object[] = [];

export type SqliteDatabase = Database.Database;
export type SqliteStatement = Database.Statement;

export function openDatabase(path: string, options?: Database.Options): SqliteDatabase {
  const database = new Database(path, options);
  keptAlive.push(database);
  return database;
}

export function prepare(database: SqliteDatabase, sql: string): SqliteStatement {
  const statement = database.prepare(sql);
  keptAlive.push(statement);
  return statement;
}
