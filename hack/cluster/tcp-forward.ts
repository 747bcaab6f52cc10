import { connect, createServer, type Socket } from 'node:net';

/**
 * A plain TCP forwarder (TLS passes through untouched) from `listenHost:listenPort` to `targetHost:targetPort`, run in
 * the harness process so it dies with it. Closing it also ends the connections it carries.
 */
export async function forwardTcp(
  listenHost: string,
  listenPort: number,
  targetHost: string,
  targetPort: number,
): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
