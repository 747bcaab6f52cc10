#!/usr/bin/env node
// The `warroom` command. The CLI is TypeScript run by Node's type stripping (Node >= 22.18; the project pins 24).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `warroom needs Node.js >= 22.18 (this is ${process.versions.node}); use node_modules/.bin/node\n`,
  );
  process.exit(2);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
