import type { Server } from 'node:http';
import { createLogger } from '../observability/logger.ts';
import { parseRecorderConfig, readPasswordFile } from './config.ts';
import { createControlServer, listen } from './control-server.ts';
import { createMembershipServer } from './membership-server.ts';
import { createRecorderMetrics } from './metrics.ts';
import { Recorder } from './recorder.ts';

/**
 * The `recorder` entrypoint (`node dist/main.js recorder` in the image), the sidecar in the Synapse pod. Configuration errors
 * throw one line (main.ts prints it and exits 1). The HTTP API comes up first (so /healthz answers while the
 * provisioning Job has not registered the account yet); login and capture follow.
 */
export async function runRecorder(env: NodeJS.ProcessEnv): Promise<void> {
  const config = parseRecorderConfig(env);
  const log = createLogger({ level: config.logLevel, component: 'recorder' });
  const password = await readPasswordFile(config.passwordFile);
  const metrics = createRecorderMetrics();
  const recorder = await Recorder.open(config, password, log, metrics);
  const target = {
    ready: () => recorder.ready,
    status: () => recorder.status(),
    seal: () => recorder.seal(),
    archive: () => recorder.archive,
    notice: (text: string) => recorder.notice(text),
  };
  const servers: Server[] = [];
  const main = createControlServer({ target, metrics, log, control: config.controlListen === undefined });
  servers.push(main);
  log.info({ url: await listen(main, config.listen) }, 'recorder API listening');
  if (config.controlListen) {
    const control = createControlServer({ target, metrics, log, control: true });
    servers.push(control);
    log.info({ url: await listen(control, config.controlListen) }, 'recorder control API listening');
  }
  if (config.membershipListen) {
    const membership = createMembershipServer(recorder, log);
    servers.push(membership);
    log.info({ url: await listen(membership, config.membershipListen) }, 'recorder membership API listening');
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'recorder stopping');
    for (const server of servers) server.close();
    recorder.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ reason: (err as Error).message }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  const started = performance.now();
  await recorder.connect();
  const status = recorder.status();
  log.info(
    { ms: Math.round(performance.now() - started), events: status.events, rooms: status.rooms.length },
    'recorder ready: first catch-up done',
  );
}
