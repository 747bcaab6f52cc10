// npm run bench -- <name> [args]: runs bench/<name>.ts, which prints its figures.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.replace(/\.ts$/, ''));
const [name, ...rest] = process.argv.slice(2);
if (!name || !existsSync(`${dir}/${name}.ts`)) {
  console.error(`usage: npm run bench -- <${available.join('|')}> [args]`);
  process.exit(2);
}
// The benches build dist/ with Node's stripTypeScriptTypes on purpose (hack/build-dist.ts); its "experimental" notice
// is not a finding of the bench.
const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', `${dir}/${name}.ts`, ...rest], {
  stdio: 'inherit',
});
child.on('exit', (code) => process.exit(code ?? 1));
