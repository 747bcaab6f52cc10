// The `warroom` command line: `warroom verify <archive.tar> [--public-key FILE] [--tsa-root FILE]
// [--require-timestamp] [--json]`.
// Exit codes: 0 the archive is valid, 1 it is not, 2 usage errors or unreadable input.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parsePublicKey } from '../evidence/signing.ts';
import { parseCertificates } from '../evidence/timestamp.ts';
import { type VerifyReport, verifyArchiveFile } from '../evidence/verify.ts';

export const USAGE = `usage: warroom <command> [options]

commands:
  verify <archive.tar> [--public-key FILE] [--tsa-root FILE] [--require-timestamp] [--json]
      Verifies a war room evidence archive: the tar, the manifest and its ed25519 signature, the RFC 3161
      timestamp over manifest.sig (format v2), the transcript's sha256 and hash chain (the first broken link is
      named), counts, media hashes and the HTML rendering.
      --public-key FILE   the operator's public key (PEM or base64 SPKI DER); without it the key embedded in
                          the manifest is used and the signer is NOT pinned
      --tsa-root FILE     the timestamp authority's root certificate(s) (PEM); the token's chain must lead to
                          one of them and its signer must be a timestamping certificate; without it the TSA is
                          NOT pinned
      --require-timestamp fail an archive without a valid timestamp from a --tsa-root TSA
      --json              print the report as JSON
      Exits 0 when the archive is valid, 1 when it is not, 2 on usage errors.
  help                    this text
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.err : io.out)(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'verify') return verifyCommand(rest, io);
  io.err(`warroom: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
  return 2;
}

async function verifyCommand(args: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parseVerifyArgs>;
  try {
    parsed = parseVerifyArgs(args);
  } catch (err) {
    io.err(`warroom verify: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(USAGE);
    return 0;
  }
  const [archivePath, ...extra] = parsed.positionals;
  if (!archivePath || extra.length > 0) {
    io.err(`warroom verify: expected exactly one archive path\n\n${USAGE}`);
    return 2;
  }
  let publicKey: ReturnType<typeof parsePublicKey> | undefined;
  if (parsed.values['public-key'] !== undefined) {
    try {
      publicKey = parsePublicKey(await readFile(parsed.values['public-key'], 'utf8'));
    } catch (err) {
      io.err(`warroom verify: --public-key ${parsed.values['public-key']}: ${describeError(err)}\n`);
      return 2;
    }
  }
  let tsaRoots: Uint8Array[] | undefined;
  if (parsed.values['tsa-root'] !== undefined) {
    try {
      tsaRoots = parseCertificates(await readFile(parsed.values['tsa-root']));
    } catch (err) {
      io.err(`warroom verify: --tsa-root ${parsed.values['tsa-root']}: ${describeError(err)}\n`);
      return 2;
    }
  }
  const requireTimestamp = parsed.values['require-timestamp'] === true;
  if (requireTimestamp && !tsaRoots) {
    io.err('warroom verify: --require-timestamp needs --tsa-root (a token from an unpinned TSA proves nothing)\n');
    return 2;
  }
  let report: VerifyReport;
  try {
    report = await verifyArchiveFile(archivePath, {
      ...(publicKey ? { publicKey } : {}),
      ...(tsaRoots ? { tsaRoots } : {}),
      requireTimestamp,
    });
  } catch (err) {
    io.err(`warroom verify: cannot read ${archivePath}: ${describeError(err)}\n`);
    return 2;
  }
  if (parsed.values.json) {
    const { timestamp: _token, ...printable } = report;
    io.out(`${JSON.stringify({ archive: archivePath, ...printable }, null, 2)}\n`);
    return report.ok ? 0 : 1;
  }
  const lines = [`warroom verify ${archivePath}`];
  for (const c of report.checks) lines.push(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  if (report.firstBrokenLink) {
    lines.push(`first broken link: line ${report.firstBrokenLink.line}: ${report.firstBrokenLink.reason}`);
  }
  for (const w of report.warnings) lines.push(`warning: ${w}`);
  const m = report.manifest;
  if (report.ok && m) {
    lines.push(
      `VALID: case ${m.channel.caseId}, ${m.transcript.events} events, head ${m.transcript.headHash}, signer ${m.signer?.keyId}${
        report.timestamp ? ', timestamped' : ''
      }`,
    );
  } else lines.push('INVALID: this archive must not be trusted');
  io.out(`${lines.join('\n')}\n`);
  return report.ok ? 0 : 1;
}

function parseVerifyArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      'public-key': { type: 'string' },
      'tsa-root': { type: 'string' },
      'require-timestamp': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}` : (e.message ?? String(err));
}
