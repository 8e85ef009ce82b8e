/**
 * The live dashboard's assets, served by the scheduler itself (no CDN: users'
 * networks may block the internet). Plain DOM and canvas; data only ever goes
 * through textContent, never innerHTML, and the CSP forbids inline script.
 */
/** Bundled from ./browser/dashboard.ts by esbuild (web/build.ts). */
export { DASHBOARD_JS as PAGE_JS } from './assets.gen.ts';

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recc cluster dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header><h1>recc cluster</h1><span id="cluster-info"></span><span id="conn" role="status">connecting…</span><span id="summary" aria-live="off"></span></header>
<main>
<section aria-labelledby="stream-h"><h2 id="stream-h">Task stream</h2>
<p class="controls"><label for="window">Show the last</label> <select id="window"><option value="30000">30 seconds</option><option value="120000" selected>2 minutes</option><option value="300000">5 minutes</option></select>
<span id="stream-info"></span></p>
<div class="stream"><canvas id="stream" role="img" aria-label="Task stream: no tasks yet" width="1000" height="240"></canvas></div>
<ul id="stream-legend" class="legend" aria-label="Task groups in the stream"></ul>
</section>
<section aria-labelledby="groups-h"><h2 id="groups-h">Task groups</h2>
<p class="legend"><span class="k waiting">waiting</span> <span class="k queued">queued</span> <span class="k processing">processing</span> <span class="k memory">in memory</span> <span class="k erred">erred</span></p>
<table id="groups"><thead><tr><th scope="col">group</th><th scope="col">progress</th><th scope="col">waiting</th><th scope="col">queued</th><th scope="col">processing</th><th scope="col">in memory</th><th scope="col">erred</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="bw-h"><h2 id="bw-h">Transfer and shuffle bandwidth</h2>
<p class="legend"><span class="k transfer">transfer</span> <span id="bw-transfer">0 B/s</span> <span class="k shuffle">shuffle</span> <span id="bw-shuffle">0 B/s</span></p>
<canvas id="bandwidth" role="img" aria-label="Bandwidth over the last two minutes" width="1000" height="120"></canvas>
</section>
<section aria-labelledby="workers-h"><h2 id="workers-h">Workers</h2>
<p class="legend"><span class="k managed">managed</span> <span class="k unmanaged">unmanaged</span> <span class="k spilled">spilled</span> (against the memory limit); <span class="k cpu">CPU</span> against the cores the worker may use</p>
<table id="workers"><thead><tr><th scope="col">worker</th><th scope="col">threads</th><th scope="col">processing</th><th scope="col">stored</th><th scope="col">memory</th><th scope="col">managed</th><th scope="col">unmanaged</th><th scope="col">spilled</th><th scope="col">limit</th><th scope="col">CPU</th><th scope="col">cores</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="events-h"><h2 id="events-h">Events</h2><ol id="events" reversed></ol></section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
body{font:14px system-ui,sans-serif;margin:1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
#cluster-info{font-weight:600}
h1{font-size:1.4rem;margin:0}
h2{font-size:1.1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}
th:first-child,td:first-child{text-align:left}
.bar{display:flex;height:12px;width:240px;background:#eee;border:1px solid #767676}
.bar span{display:block;height:100%}
.k{padding:0 4px}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem .8rem;margin:.3rem 0}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle;border:1px solid #555}
.stream canvas,#bandwidth{width:100%;border:1px solid #bbb;background:#fafafa;display:block}
#stream{height:240px}#bandwidth{height:120px}
.waiting{background:#ccc}.queued{background:#9ecae1}.processing{background:#1b7837;color:#fff}.memory{background:#08519c;color:#fff}.erred{background:#b2182b;color:#fff}
.managed{background:#08519c;color:#fff}.unmanaged{background:#9ecae1}.spilled{background:#a63603;color:#fff}.cpu{background:#54278f;color:#fff}
.transfer{background:#08519c;color:#fff}.shuffle{background:#a63603;color:#fff}
#events{font-family:monospace;max-height:20em;overflow:auto}
#events .worker-lost,#events .task-erred,#events .killed-worker{color:#a50f15}
#events b{font-weight:600}
`;
