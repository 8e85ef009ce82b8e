// Preload for `npm run bench -- --profile DIR`: `node --cpu-prof` is not
// allowed in NODE_OPTIONS, so this starts the V8 profiler through the
// inspector in every Node process the bench spawns (scheduler, workers,
// client) and writes DIR/<role>-<pid>.cpuprofile when the process exits
// (a graceful SIGTERM exit included). Enabled by RECC_BENCH_PROFILE_DIR.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.RECC_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.enable');
  session.post('Profiler.start');
  const role = (process.argv.slice(1).find((a) => /scheduler|worker|measure|bench/.test(a)) ?? 'node')
    .split('/')
    .pop()
    .replace(/[^a-zA-Z0-9_.-]/g, '_');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // In-process inspector sessions dispatch synchronously, so this works inside 'exit'.
    session.post('Profiler.stop', (err, result) => {
      if (!err && result) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  };
  process.on('exit', write);
}
