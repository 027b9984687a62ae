import fs from 'node:fs';
import { MpmError } from '../connectors/core/errors/index.ts';

/** Another live process has the embedded warehouse open. */
export class WarehouseBusyError extends MpmError {
  readonly retryable = true;
}

interface Holder {
  pid: number;
  since: string;
  command: string;
}

/** Lock files this process holds, by path, with how many opens share each. */
const held = new Map<string, number>();
let exitHookInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

function readHolder(file: string): Holder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, since: String(parsed.since ?? '?'), command: String(parsed.command ?? '?') } : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

/**
 * One process at a time on an embedded (PGlite) data folder. PGlite, unlike a Postgres server,
 * takes no lock on its folder, and two processes writing it (say `mpm status` while `mpm sync`
 * runs) leave it unreadable. So the opener writes `file` (beside the folder) with its pid, created
 * exclusively; a second process finds it and stops with a message naming the holder. A file left
 * by a process that died (even by SIGKILL) is taken over; a live holder is never overridden.
 * Opens within one process share the lock. Returns the release function.
 */
export function lockDataDir(file: string, folder: string): () => void {
  const mine = held.get(file);
  if (mine !== undefined) {
    held.set(file, mine + 1);
    return once(() => release(file));
  }
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      const holder: Holder = { pid: process.pid, since: new Date().toISOString(), command: ['mpm', ...process.argv.slice(2)].join(' ') };
      fs.writeSync(fd, JSON.stringify(holder));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && alive(holder.pid)) {
        throw new WarehouseBusyError(
          `the embedded warehouse at ${folder} is in use by another process (pid ${holder.pid}, \`${holder.command}\`, since ${holder.since}); ` +
            'wait for it to finish, or use Postgres (DATABASE_URL) to run several commands at once',
        );
      }
      if (attempt > 0) throw new WarehouseBusyError(`could not take over the stale lock ${file}; remove it if no mpm process uses ${folder}`);
      fs.rmSync(file, { force: true }); // its process is gone
    }
  }
  held.set(file, 1);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const path of held.keys()) fs.rmSync(path, { force: true });
    });
  }
  return once(() => release(file));
}

function release(file: string): void {
  const count = held.get(file);
  if (count === undefined) return;
  if (count > 1) {
    held.set(file, count - 1);
    return;
  }
  held.delete(file);
  fs.rmSync(file, { force: true });
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}
