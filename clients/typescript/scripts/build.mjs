#!/usr/bin/env node
// Builds dist/ (ESM + .d.ts) with tsc. Run by `npm run build` and by npm's `prepare` lifecycle,
// which npm runs on `npm install` in this folder, on `npm pack`/`npm publish`, and when another
// project installs this folder with `npm install <path> --install-links` (npm packs the folder
// first). In that last case the folder may be a fresh clone with no node_modules: the compiler is
// then installed here first (`npm ci --ignore-scripts`, so this script does not run again).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

if (!existsSync(tsc)) {
  console.error('@aijobs/client: installing the build tools (npm ci) in', root);
  // The parent npm's settings (install-links, save, global, …) are not meant for this install.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_(config|package|lifecycle)_/i.test(k) || /^npm_config_(registry|cache|userconfig|globalconfig|@.*:registry)$/i.test(k)),
  );
  const npm = process.env.npm_execpath
    ? [process.execPath, [process.env.npm_execpath]]
    : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
  execFileSync(npm[0], [...npm[1], 'ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: root, env, stdio: ['ignore', 2, 2] });
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
