import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freeTcpPort(): Promise<number> {
  const [port] = await freeTcpPorts(1);
  return port as number;
}

/**
 * `count` distinct TCP ports on 127.0.0.1 that were free a moment ago. Each listener stays open until all are picked:
 * one closed before the next was asked for could be handed out again (CI once got LiveKit's two ports equal).
 */
export async function freeTcpPorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (!address || typeof address !== 'object') throw new Error('no port');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function udpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

function tcpPortIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive ports free for both UDP and TCP on 127.0.0.1 (TURN listens on both; relay ports are UDP).
 * Random bases keep parallel test files from colliding; each candidate is checked by binding it.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (30_000 - count));
    let free = true;
    for (let port = base; port < base + count && free; port++) {
      free = (await udpPortIsFree(port)) && (await tcpPortIsFree(port));
    }
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
