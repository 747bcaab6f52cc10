// No container engine here, so the image is not built in tests. These checks pin what makes the Dockerfile right: the
// runtime stage is Node 24, non-root by number, has production dependencies only, holds everything src/ imports, and
// runs src/ as JavaScript built by hack/build-dist.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface Instruction {
  op: string;
  args: string;
}

/** Instructions with line continuations joined and comments dropped, grouped by stage. */
function stages(text: string): { from: string; name?: string; body: Instruction[] }[] {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const out: { from: string; name?: string; body: Instruction[] }[] = [];
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    if (op.toUpperCase() === 'ARG' && out.length === 0) {
      const [k, v] = arg.split('=');
      if (k && v) args.set(k, v);
    } else if (op.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(arg);
      assert.ok(m?.[1], `FROM ${arg}`);
      const image = m[1].replace(/^\$\{(\w+)\}$|^\$(\w+)$/, (_, a, b) => args.get(a ?? b) ?? `<unset ${a ?? b}>`);
      out.push({ from: image, name: m[2], body: [] });
    } else {
      assert.ok(out.length > 0, `${op} before the first FROM`);
      out.at(-1)?.body.push({ op: op.toUpperCase(), args: arg });
    }
  }
  return out;
}

const all = stages(dockerfile);
const runtime = all.at(-1)!;
const ops = (op: string) => runtime.body.filter((i) => i.op === op);

describe('Dockerfile', () => {
  test('every stage is Node 24 (the version package.json pins), multi-stage', () => {
    assert.ok(all.length >= 2, 'a dependency stage and a runtime stage');
    const major = /(\d+)/.exec(pkg.devDependencies.node ?? '')?.[1];
    assert.equal(major, '24');
    for (const s of all) assert.match(s.from, /^node:24-bookworm-slim(@sha256:[a-f0-9]{64})?$/, s.from);
  });

  test('the runtime stage runs as a numeric non-root user', () => {
    const users = ops('USER');
    assert.equal(users.length, 1);
    const [uid, gid] = (users[0]?.args ?? '').split(':');
    assert.equal(uid, '65532');
    assert.equal(gid, '65532');
    const lastUser = runtime.body.findLastIndex((i) => i.op === 'USER');
    assert.ok(
      runtime.body.slice(lastUser).every((i) => i.op !== 'RUN'),
      'nothing runs as root after USER, and nothing runs at all as the user',
    );
  });

  test('dependencies: npm ci --omit=dev only, in the build stage; the runtime stage installs nothing', () => {
    const installs = all.flatMap((s) =>
      s.body.filter((i) => i.op === 'RUN' && /\bnpm\s+(ci|install|i)\b/.test(i.args)).map((i) => ({ s, i })),
    );
    assert.ok(installs.length >= 1);
    for (const { s, i } of installs) {
      assert.notEqual(s, runtime, 'no npm install in the runtime stage');
      assert.match(i.args, /\bnpm ci\b/, 'a lockfile install, not npm install');
      assert.match(i.args, /--omit=dev\b/, 'production dependencies only: the `node` dev dependency is not wanted');
      assert.match(i.args, /--ignore-scripts\b/);
    }
    assert.ok(
      ops('COPY').some((c) => /--from=deps\b/.test(c.args) && /node_modules/.test(c.args)),
      'node_modules comes from the deps stage',
    );
    assert.ok(
      ops('RUN').some((r) => /rm -rf .*\/usr\/local\/lib\/node_modules/.test(r.args)),
      'npm itself is removed from the runtime image',
    );
  });

  test('entrypoint: node dist/main.js, default command operator, with dist/, crds/ and package.json copied', () => {
    assert.deepEqual(JSON.parse(ops('ENTRYPOINT').at(-1)?.args ?? 'null'), ['node', 'dist/main.js']);
    assert.deepEqual(JSON.parse(ops('CMD').at(-1)?.args ?? 'null'), ['operator']);
    const copies = ops('COPY').map((c) => c.args);
    assert.ok(
      copies.every((c) => !/(^|\s)src\b/.test(c)),
      'no TypeScript in the runtime image: Node would load its type stripper into every process',
    );
    for (const what of ['/app/dist ./dist', 'crds ./crds', 'package.json ./']) {
      assert.ok(
        copies.some((c) => c.endsWith(what)),
        `COPY ... ${what}`,
      );
    }
    assert.ok(
      copies.every((c) => /--chown=0:0/.test(c)),
      'code is owned by root, so the runtime user cannot change it',
    );
  });

  test('dist/ is built from src/ by hack/build-dist.ts in a stage of its own, with no install', () => {
    const build = all.find((s) =>
      s.body.some((i) => i.op === 'RUN' && /\bhack\/build-dist\.ts src dist\b/.test(i.args)),
    );
    assert.ok(build, 'a stage runs `node hack/build-dist.ts src dist`');
    assert.notEqual(build, runtime);
    const distCopy = ops('COPY').find((c) => /\/app\/dist\b/.test(c.args))?.args ?? '';
    assert.equal(/--from=(\S+)/.exec(distCopy)?.[1], build.name, 'the runtime stage copies dist/ from that stage');
    const copies = build.body.filter((i) => i.op === 'COPY').map((i) => i.args);
    for (const what of ['package.json ./', 'hack/build-dist.ts ./hack/', 'src ./src']) {
      assert.ok(
        copies.some((c) => c.endsWith(what)),
        `COPY ${what}`,
      );
    }
    assert.ok(
      build.body.every((i) => !/\bnpm\b/.test(i.args)),
      "the base image's Node strips types: nothing to install",
    );
  });

  test('.dockerignore lets in only what the image needs', () => {
    const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    // Docker's rule: the last matching pattern wins; "!" re-includes.
    const included = (path: string) => {
      let inc = true;
      for (const p of patterns) {
        const negate = p.startsWith('!');
        const glob = negate ? p.slice(1) : p;
        const re = new RegExp(
          `^${glob
            .replace(/\/$/, '')
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*\*/g, '<globstar>')
            .replace(/\*/g, '[^/]*')
            .replace(/<globstar>/g, '.*')}(/.*)?$`,
        );
        if (re.test(path)) inc = negate;
      }
      return inc;
    };
    for (const p of [
      'package.json',
      'package-lock.json',
      '.npmrc',
      'src/main.ts',
      'src/kube/client.ts',
      'crds/x.yaml',
      'hack/build-dist.ts',
    ]) {
      assert.ok(included(p), `${p} is in the build context`);
    }
    for (const p of [
      'node_modules/zod/index.js',
      '.git/config',
      'test/unit/a.ts',
      '.env',
      'hack/kind/up.sh',
      'x.kubeconfig',
    ]) {
      assert.ok(!included(p), `${p} is not in the build context`);
    }
  });

  test('everything src/ imports is in the image: node builtins, production dependencies, or src/ itself', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(root, 'src'));
    assert.ok(files.length > 10);
    const builtins = new Set(builtinModules);
    const problems: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const specs = [
        ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/g),
        ...text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g),
        ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ].map((m) => m[1] ?? '');
      for (const spec of specs) {
        const where = relative(root, file);
        if (spec.startsWith('.')) {
          const target = relative(join(root, 'src'), resolve(dirname(file), spec));
          if (target.startsWith('..')) problems.push(`${where}: ${spec} is outside src/, so not in the image`);
        } else if (spec.startsWith('node:') || builtins.has(spec)) {
        } else {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
          if (!pkg.dependencies[name]) {
            problems.push(
              `${where}: ${name} is not a production dependency (npm ci --omit=dev leaves it out of the image)`,
            );
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
