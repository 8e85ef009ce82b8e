/**
 * The control-plane console's assets, served by `recc up` at /console. Static:
 * no data is rendered on the server. The script calls the same API routes a
 * program calls (GET/POST/PATCH/DELETE /clusters, GET /costs/series, GET /jobs), so what it can
 * see and do is exactly what the caller's identity may. Data goes to the DOM
 * only through textContent; the CSP forbids inline script. The script is
 * bundled from ./browser/ by esbuild (web/build.ts → ./assets.gen.ts).
 */

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recc console</title>
<link rel="stylesheet" href="/console.css">
<script src="/console.js" defer></script>
</head>
<body>
<header><h1>recc console</h1><span id="status" role="status" aria-live="polite"></span></header>
<main>
<section aria-labelledby="create-h"><h2 id="create-h">Create a cluster</h2>
<form id="create" novalidate>
<label for="c-name">Name</label> <input id="c-name" name="name" autocomplete="off">
<label for="c-template">Template</label> <input id="c-template" name="template" autocomplete="off" placeholder="default">
<label for="c-workers">Workers</label> <input id="c-workers" name="nWorkers" inputmode="numeric" size="5">
<label for="c-job">Job</label> <input id="c-job" name="job" autocomplete="off">
<button type="submit">Create</button>
</form>
<div id="create-errors" role="alert"></div>
</section>
<section aria-labelledby="clusters-h"><h2 id="clusters-h">Clusters</h2>
<p><input type="checkbox" id="all"> <label for="all">All users' clusters (admins)</label> <input type="checkbox" id="ended"> <label for="ended">Show ended clusters</label></p>
<div id="clusters-errors" role="alert"></div>
<table id="clusters"><caption class="sr">Clusters, newest first</caption><thead><tr><th scope="col">name</th><th scope="col">owner</th><th scope="col">status</th><th scope="col">age</th><th scope="col">idle</th><th scope="col">workers</th><th scope="col">$/h</th><th scope="col">cost so far</th><th scope="col">actions</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="cost-h"><h2 id="cost-h">Cost this month</h2>
<p><span id="cost-month"></span> <input type="checkbox" id="scale-budgets"> <label for="scale-budgets">Scale charts to the budgets</label></p>
<p class="legend">Solid: running total; dashed: linear forecast to the end of the month; dotted: monthly budget.</p>
<div class="costs">
<figure class="chart"><div id="chart-user" class="plot" role="img" aria-label="Cost by user this month, with forecast and budget; the same figures are in the table below"></div>
<table id="cost-user"><caption>by user</caption><thead><tr><th scope="col">user</th><th scope="col">period ($)</th><th scope="col">month to date ($)</th><th scope="col">forecast ($)</th><th scope="col">budget ($)</th><th scope="col">forecast / budget</th></tr></thead><tbody></tbody></table></figure>
<figure class="chart"><div id="chart-namespace" class="plot" role="img" aria-label="Cost by namespace this month, with forecast and budget; the same figures are in the table below"></div>
<table id="cost-namespace"><caption>by namespace</caption><thead><tr><th scope="col">namespace</th><th scope="col">period ($)</th><th scope="col">month to date ($)</th><th scope="col">forecast ($)</th><th scope="col">budget ($)</th><th scope="col">forecast / budget</th></tr></thead><tbody></tbody></table></figure>
<figure class="chart"><div id="chart-job" class="plot" role="img" aria-label="Cost by job this month, with forecast and budget; the same figures are in the table below"></div>
<table id="cost-job"><caption>by job</caption><thead><tr><th scope="col">job</th><th scope="col">period ($)</th><th scope="col">month to date ($)</th><th scope="col">forecast ($)</th><th scope="col">budget ($)</th><th scope="col">forecast / budget</th></tr></thead><tbody></tbody></table></figure>
</div>
</section>
<section aria-labelledby="jobs-h"><h2 id="jobs-h">Scheduled jobs</h2>
<div id="jobs-errors" role="alert"></div>
<table id="jobs"><caption class="sr">Scheduled jobs</caption><thead><tr><th scope="col">job</th><th scope="col">owner</th><th scope="col">schedule</th><th scope="col">next run</th><th scope="col">runs</th></tr></thead><tbody></tbody></table>
<table id="runs" hidden><caption id="runs-caption">Runs</caption><thead><tr><th scope="col">run</th><th scope="col">scheduled for</th><th scope="col">trigger</th><th scope="col">attempt</th><th scope="col">status</th><th scope="col">duration</th><th scope="col">cluster</th><th scope="col">reason</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="harvest-h"><h2 id="harvest-h">Harvester actions</h2>
<table id="harvested"><thead><tr><th scope="col">cluster</th><th scope="col">owner</th><th scope="col">ended</th><th scope="col">reason</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="failed-h"><h2 id="failed-h">Provisioning failures</h2>
<table id="failures"><thead><tr><th scope="col">cluster</th><th scope="col">owner</th><th scope="col">when</th><th scope="col">reason</th></tr></thead><tbody></tbody></table>
</section>
</main>
</body>
</html>
`;

export const CONSOLE_CSS = `
body{font:14px system-ui,sans-serif;margin:1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}
h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
caption{text-align:left;font-weight:600;padding:2px 0}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}
td.num{text-align:right}
.costs{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1rem}
figure.chart{margin:0}.plot{min-height:260px}
.legend{color:#444;margin:.2rem 0}
form label{margin-left:.6rem}
input,button{font:inherit}
button{margin:0 .2rem;padding:2px 8px}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
[role=alert]{color:#a50f15}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.status-RUNNING{color:#1b5e20}.status-FAILED{color:#a50f15}
`;
