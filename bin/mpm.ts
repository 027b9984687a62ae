#!/usr/bin/env -S npx tsx
import { Command, CommanderError } from 'commander';
import { MpmError } from '../connectors/core/errors/index.ts';
import { scrub } from '../pipeline/secrets.ts';
import { Runtime } from './runtime.ts';
import * as backfill from './commands/backfill.ts';
import * as demo from './commands/demo.ts';
import * as docs from './commands/docs.ts';
import * as fx from './commands/fx.ts';
import * as jobs from './commands/jobs.ts';
import * as grants from './commands/grants.ts';
import * as migrate from './commands/migrate.ts';
import * as quarantine from './commands/quarantine.ts';
import * as report from './commands/report.ts';
import * as schedule from './commands/schedule.ts';
import * as sandbox from './commands/sandbox.ts';
import * as sources from './commands/sources.ts';
import * as status from './commands/status.ts';
import * as sync from './commands/sync.ts';
import * as transform from './commands/transform.ts';
import * as ui from './commands/ui.ts';
import * as worker from './commands/worker.ts';

/** Each command is a module with register(program, runtime); add new ones to this list. */
const commands = [migrate, sources, sync, status, quarantine, transform, fx, sandbox, demo, docs, grants, backfill, worker, schedule, jobs, ui, report];

function fail(message: string, code: number, err?: unknown): void {
  process.stderr.write(`mpm: ${scrub(message)}\n`);
  if (err instanceof Error && err.stack && process.env.LOG_LEVEL === 'debug') process.stderr.write(`${scrub(err.stack)}\n`);
  process.exitCode = code;
}

async function main(argv: string[]): Promise<void> {
  let runtime: Runtime;
  try {
    runtime = new Runtime();
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err), err instanceof MpmError ? err.exitCode : 2, err);
    return;
  }

  const program = new Command('mpm')
    .description('mpm: marketing performance management pipeline (CRM, ad spend and web analytics into a Postgres warehouse)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const command of program.commands) command.exitOverride();
  for (const c of commands) c.register(program, runtime);
  // Usage errors anywhere in the tree exit 2 instead of commander's default 1.
  const overrideAll = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(overrideAll);
  };
  overrideAll(program);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        process.exitCode = 0;
      } else {
        process.exitCode = 2; // commander already printed its one-line message
      }
    } else if (err instanceof MpmError) {
      fail(err.message, err.exitCode, err);
    } else {
      runtime.log.error({ err }, 'command failed');
      fail(err instanceof Error ? err.message : String(err), 1, err);
    }
  } finally {
    await runtime.close();
  }
}

await main(process.argv);
