// hack/build-dist.ts turns src/ into the JavaScript the image runs: it must keep every line where it was and leave no
// import pointing at a .ts file, or the image would fail at run time on a path only a build would find.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildDist, toJavaScript } from '../../hack/build-dist.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('build-dist', () => {
  test('types become blanks in place; relative .ts specifiers become .js, package and builtin ones are kept', () => {
    const source = [
      "import type { A } from './a.ts';",
      "import { b } from '../b/c.ts';",
      "export { d } from './d.ts';",
      "import { z } from 'zod';",
      'const x: number = 1;',
      "const m = await import('./lazy.ts');",
      "const w = new URL('./worker.ts', import.meta.url);",
      'interface Shape { n: number }',
      'export const e = (s: Shape): string => String(s.n) + b + m + w + x + z;',
    ].join('\n');
    const out = toJavaScript(source);
    assert.equal(out.split('\n').length, source.split('\n').length, 'same lines, so stack traces point at src/');
    assert.match(out, /^ +$/m, 'the type-only import is blanked, not removed');
    assert.match(out, /import \{ b \} from '\.\.\/b\/c\.js';/);
    assert.match(out, /export \{ d \} from '\.\/d\.js';/);
    assert.match(out, /from 'zod';/);
    assert.match(out, /import\('\.\/lazy\.js'\)/);
    assert.match(out, /new URL\('\.\/worker\.js', import\.meta\.url\)/);
    assert.doesNotMatch(out, /\.ts'|: number|interface|: Shape|: string/);
  });

  const out = mkdtempSync(join(tmpdir(), 'warroom-dist-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  test('src/ builds; every relative specifier in dist/ names a file that is there', () => {
    const written = buildDist(join(root, 'src'), join(out, 'dist'));
    assert.ok(written.some((f) => f.endsWith(join('dist', 'main.js'))));
    const problems: string[] = [];
    for (const file of written.filter((f) => f.endsWith('.js'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(['"])(\.{1,2}\/[^'"\n]+)\1/g)) {
        const spec = m[2] ?? '';
        if (!/\.(js|json)$/.test(spec)) continue;
        if (!existsSync(resolve(dirname(file), spec))) problems.push(`${file}: ${spec}`);
      }
      if (/(['"])\.{1,2}\/[^'"\n]*\.ts\1/.test(text)) problems.push(`${file}: a relative .ts specifier is left`);
    }
    assert.deepEqual(problems, []);
  });

  test('the built entrypoint runs without type stripping: an unknown entrypoint is one clear line, exit 2', () => {
    // dist/ next to package.json ("type": "module") and node_modules, as in the image.
    writeFileSync(join(out, 'package.json'), readFileSync(join(root, 'package.json')));
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
    const run = spawnSync(process.execPath, ['--no-experimental-strip-types', join(out, 'dist/main.js'), 'nope'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /unknown entrypoint "nope"/);
    const imported = spawnSync(
      process.execPath,
      [
        '--no-experimental-strip-types',
        '--input-type=module',
        '-e',
        ['config', 'operator', 'http/server', 'recorder/main', 'matrix/provisioner-main', 'rtc/main', 'cli/main']
          .map((m) => `await import(${JSON.stringify(join(out, `dist/${m}.js`))});`)
          .join(' '),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(imported.status, 0, imported.stderr);
  });
});
