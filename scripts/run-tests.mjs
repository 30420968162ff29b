// npm test: set-up (including test tools), then node:test over the compiled output, both the
// unit tests beside the sources (dist/src) and the integration tests (dist/test).
import { spawnSync } from 'node:child_process';

const setup = spawnSync('bash', ['scripts/setup.sh', '--quiet', '--for-tests'], { stdio: 'inherit' });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const args = ['--test', '--test-reporter=spec', ...(process.argv.length > 2 ? process.argv.slice(2) : ['dist/src', 'dist/test'])];
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(run.status ?? 1);
