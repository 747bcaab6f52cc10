import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { boundUnixSockets } from '../../../hack/cluster/containerd.ts';
import { hasExited, killProcessesUsing, processesUsing } from '../../../hack/cluster/host-cleanup.ts';

const work = await mkdtemp(join(tmpdir(), 'warroom-cleanup-'));
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

/**
 * A process holding a bound unix socket at `socket`; `work` is on its command line, as a shim's run dir is. With
 * `leaderExits`, its main thread ends (pthread_exit) while a second thread keeps it, and the socket, alive: what a
 * SIGKILLed Go shim looks like for a moment, and for as long as this one lives.
 */
async function socketHolder(socket: string, leaderExits: boolean): Promise<ChildProcess> {
  const script = [
    'import ctypes, socket, sys, threading, time',
    's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()',
    'threading.Thread(target=lambda: time.sleep(60)).start()',
    "print('up', flush=True)",
    leaderExits ? 'ctypes.CDLL(None).pthread_exit(None)' : 'time.sleep(60)',
  ].join('\n');
  const child = spawn('python3', ['-c', script, socket, work], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.stdout?.once('data', resolve);
    child.once('error', reject);
  });
  return child;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('host clean-up of a dead run’s processes', () => {
  test('a process whose leader thread is gone is not exited while another thread holds its socket', async () => {
    const socket = join(work, 'leader.sock');
    const child = await socketHolder(socket, true);
    const pid = child.pid as number;
    await until(
      'the leader thread to exit',
      async () => (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => 'gone')) === '',
    );
    // Its command line is empty now, so nothing can tell it uses the run's dir; its socket is still bound.
    assert.equal((await processesUsing(work)).length, 0);
    assert.ok((await boundUnixSockets()).has(socket));
    assert.equal(await hasExited(pid), false);

    child.kill('SIGKILL');
    await until('every thread to exit', () => hasExited(pid));
    assert.equal((await boundUnixSockets()).has(socket), false, 'exited means its files are closed');
  });

  test('killProcessesUsing returns once what it killed has exited and released its sockets', async () => {
    const sockets = [0, 1, 2].map((i) => join(work, `held-${i}.sock`));
    const held = await Promise.all(sockets.map((s) => socketHolder(s, false)));
    assert.equal((await processesUsing(work)).length, 3);

    await killProcessesUsing(work);
    const bound = await boundUnixSockets();
    assert.deepEqual(
      sockets.filter((s) => bound.has(s)),
      [],
    );
    for (const c of held) assert.equal(await hasExited(c.pid as number), true);
  });
});
