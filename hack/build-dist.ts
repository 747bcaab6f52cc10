// `node hack/build-dist.ts [src] [dist]`: src/ as plain JavaScript, for the image (the Dockerfile's build stage) and
// for benches that measure what the image runs. Running .ts costs every process Node's TypeScript stripper (a
// WebAssembly module, ~19 MiB of RSS measured by bench/support/operator-memory-imports.ts) for the whole life of the process;
// stripping once at build time does not. Node's own stripper does it, the one developers and tests run through, so
// dist/ behaves exactly like src/: types become blanks in place, lines and columns are unchanged (stack traces point
// at the same src/ lines) and no dependency is needed. Only the relative `.ts` specifiers are rewritten to `.js`.
// Deliberately no node: imports other than fs/path/module: the Dockerfile runs this file with a bare base image.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { dirname, join, relative } from 'node:path';

/**
 * A relative `.ts` path in a string literal: every import, `export … from`, `import()` and
 * `new URL('./worker.ts', import.meta.url)` in src/ spells its own files this way (tsconfig's
 * allowImportingTsExtensions), and dist/ holds the same files as `.js`.
 */
const RELATIVE_TS = /(['"])(\.{1,2}\/[^'"\n]*?)\.ts\1/g;

/** One TypeScript module as JavaScript: types stripped in place, relative `.ts` specifiers → `.js`. */
export function toJavaScript(source: string): string {
  return stripTypeScriptTypes(source, { mode: 'strip' }).replace(RELATIVE_TS, '$1$2.js$1');
}

/** Every file of srcDir into outDir (emptied first): `.ts` as `.js`, anything else copied as is. */
export function buildDist(srcDir: string, outDir: string): string[] {
  rmSync(outDir, { recursive: true, force: true });
  const written: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const from = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(from);
        continue;
      }
      const isTs = entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts');
      const to = join(outDir, relative(srcDir, from)).replace(/\.ts$/, isTs ? '.js' : '.ts');
      mkdirSync(dirname(to), { recursive: true });
      if (isTs) writeFileSync(to, toJavaScript(readFileSync(from, 'utf8')));
      else copyFileSync(from, to);
      written.push(to);
    }
  };
  walk(srcDir);
  return written;
}

if (import.meta.main) {
  const [src = 'src', out = 'dist'] = process.argv.slice(2);
  process.stdout.write(`build-dist: ${buildDist(src, out).length} files from ${src}/ into ${out}/\n`);
}
