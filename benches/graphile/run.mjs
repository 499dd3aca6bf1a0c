#!/usr/bin/env node
// graphile-worker delivering dossiers to lienthong's portal simulator, one POST per job, for
// comparison with `lienthong bench outbox` (see benches/README.md, "graphile-worker comparison").
//
// For each mode: start a fresh simulator (`lienthong sim`), create a fresh database
// gw_bench_<random>, install graphile-worker's schema, enqueue every job in bulk (addJobs), run one
// worker until every job has completed, check the simulator's stats, drop the database.
//
//   plain  N dossier headers, one job each (DongBoHoSoMC, one item per POST), no queue
//   queue  D dossiers × (1 header + K steps), one named queue per dossier (queueName = MaHoSo),
//          so a dossier's jobs run one at a time, in the order they were added
//
// jobs/s is jobs divided by the time from the first job's start to the last job's completion.

import { spawn, execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { run, makeWorkerUtils, Logger } from "graphile-worker";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");

const USAGE = `usage: node run.mjs [options]
  --mode plain|queue|both   which runs (default both)
  --jobs N                  plain mode: dossier header jobs (default 20000)
  --dossiers D              queue mode: dossiers (default 5000)
  --steps K                 queue mode: step jobs per dossier, after its header (default 4)
  --concurrency C           graphile-worker concurrency (default 24)
  --pg URL                  PostgreSQL server; a database gw_bench_<random> is created on it and
                            dropped at the end (default postgres://postgres@127.0.0.1:5432/postgres)
  --lienthong PATH          lienthong binary, for \`map\` and \`sim\` (default $LIENTHONG or
                            ../../target/release/lienthong)
  --sim URL                 use this running simulator instead of starting one per mode
                            (its stats are compared before/after)`;

function parseArgs(argv) {
  const opts = {
    mode: "both",
    jobs: 20000,
    dossiers: 5000,
    steps: 4,
    concurrency: 24,
    pg: "postgres://postgres@127.0.0.1:5432/postgres",
    lienthong: process.env.LIENTHONG || resolve(repo, "target/release/lienthong"),
    sim: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`);
      return argv[++i];
    };
    switch (a) {
      case "--mode": opts.mode = v(); break;
      case "--jobs": opts.jobs = Number(v()); break;
      case "--dossiers": opts.dossiers = Number(v()); break;
      case "--steps": opts.steps = Number(v()); break;
      case "--concurrency": opts.concurrency = Number(v()); break;
      case "--pg": opts.pg = v(); break;
      case "--lienthong": opts.lienthong = v(); break;
      case "--sim": opts.sim = v().replace(/\/$/, ""); break;
      case "-h": case "--help": console.log(USAGE); process.exit(0);
      default: throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  if (!["plain", "queue", "both"].includes(opts.mode)) throw new Error(`--mode: ${opts.mode}`);
  for (const k of ["jobs", "dossiers", "steps", "concurrency"]) {
    if (!Number.isInteger(opts[k]) || opts[k] < (k === "steps" ? 0 : 1)) {
      throw new Error(`--${k}: not a valid count`);
    }
  }
  if (opts.steps > 50) throw new Error("--steps: at most 50");
  return opts;
}

// ---- the portal's credentials (the simulator's defaults, `lienthong sim --help`) ----
const USERNAME = "lienthong";
const PASSWORD = "matkhau";
const DSTCODE = "000.00.01.H56";
const MADONVI = "000.00.01.H56";

// ---- items: real ones from `lienthong map`, MaHoSo varied to make distinct dossiers ----

async function mapItems(bin, mapping, input, vars = []) {
  const args = ["map", "--mapping", mapping, "--input", input];
  for (const v of vars) args.push("--var", v);
  // It exits 1 when some records are refused (the fixtures hold a few broken ones on purpose):
  // the accepted ones are still printed.
  const stdout = await promisify(execFile)(bin, args, { maxBuffer: 256 << 20 })
    .then((r) => r.stdout, (e) => { if (e.code === 1 && e.stdout) return e.stdout; throw e; });
  // Output: "record N: ok (W warnings)" then the item as pretty JSON; refused records say
  // "record N: rejected" / "record N: error: ..." and have no item.
  const items = [];
  for (const block of stdout.split(/^(?=record \d+: )/m)) {
    const nl = block.indexOf("\n");
    if (nl < 0 || !/^record \d+: ok\b/.test(block)) continue;
    // The item ends at the first "}" in column 0 (a summary line follows the last one).
    const body = block.slice(nl + 1);
    const end = body.indexOf("\n}");
    if (body.startsWith("{") && end >= 0) items.push(JSON.parse(body.slice(0, end + 2)));
  }
  if (items.length === 0) throw new Error(`lienthong map ${mapping}: no item`);
  return items;
}

// MaHoSo is "<agency id>-<yyMMdd>-<digits>": keep the template's agency and day, make the digits
// unique per run and dossier.
function dossierCode(template, tag, i) {
  const m = /^(.*-[0-9]{6})-[0-9]+$/.exec(template.MaHoSo);
  if (!m) throw new Error(`unexpected MaHoSo ${template.MaHoSo}`);
  return `${m[1]}-${tag}${String(i).padStart(7, "0")}`;
}

function wireDate(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

// graphile-worker 0.18 picks the next job of a named queue by (priority, run_at) only, without the
// job id: jobs added in one addJobs call share run_at (the transaction's now()) and may then run in
// any order within their queue (a first run here had steps overtake their header). So every job of
// a dossier gets its own run_at, 1 ms after the previous one, all in the past.
const RUN_AT_BASE = Date.now() - 60 * 1000;

function headerJob(templates, tag, i, queue) {
  const t = templates[i % templates.length];
  const maHoSo = dossierCode(t, tag, i);
  return {
    identifier: "deliver",
    queueName: queue ? maHoSo : undefined,
    runAt: queue ? new Date(RUN_AT_BASE) : undefined,
    payload: {
      service: "DongBoHoSoMC",
      requestId: randomUUID(),
      item: { ...t, MaHoSo: maHoSo },
    },
  };
}

// Step j of a dossier: a real step item, its time 10 minutes after the previous one so the
// portal can tell whether steps arrived in order (`out_of_order_steps`).
function stepJob(templates, maHoSo, i, j) {
  const t = templates[(i + j) % templates.length];
  const at = new Date(Date.UTC(2026, 10, 2, 8, 0, 0) + j * 10 * 60 * 1000);
  return {
    identifier: "deliver",
    queueName: maHoSo,
    runAt: new Date(RUN_AT_BASE + j + 1),
    payload: {
      service: "CapNhatTienDoHoSoMC",
      requestId: randomUUID(),
      item: { ...t, MaHoSo: maHoSo, ThoiDiemXuLy: wireDate(at), NoiDungXuLy: `${t.NoiDungXuLy} (bước ${j + 1})` },
    },
  };
}

// ---- the portal client used by the task ----

function portalClient(base) {
  let session = null;
  let loggingIn = null;
  const counters = { logins: 0, sessionErrors: 0 };

  async function login() {
    if (!loggingIn) {
      loggingIn = (async () => {
        const res = await fetch(`${base}/auth`, {
          method: "POST",
          headers: { "content-type": "application/json; charset=utf-8", dstcode: DSTCODE },
          body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
        });
        const body = await res.json();
        if (String(body.error_code) !== "0" || !body.session) {
          throw new Error(`login refused: ${body.error_code} ${body.message}`);
        }
        counters.logins++;
        session = body.session;
      })().finally(() => { loggingIn = null; });
    }
    return loggingIn;
  }

  async function post(payload, usedSession) {
    const body = { madonvi: MADONVI, service: payload.service, session: usedSession, data: [payload.item] };
    if (payload.service === "DongBoHoSoMC") body.isUpdating = "False";
    const res = await fetch(`${base}/integration`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", "x-request-id": payload.requestId },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return res.json();
  }

  // One item, one POST. Throws (so graphile-worker retries the job) unless the item was accepted.
  async function deliver(payload) {
    if (!session) await login();
    let used = session;
    let answer = await post(payload, used);
    if (Number(answer.error_code) === -2) {
      // Session expired: log in again (once for every job that saw the same session), repeat
      // the same request with the same X-Request-ID.
      counters.sessionErrors++;
      if (session === used) await login();
      used = session;
      answer = await post(payload, used);
    }
    if (Number(answer.error_code) !== 0) {
      throw new Error(`envelope error_code ${answer.error_code}: ${answer.message}`);
    }
    const item = answer.result?.[0];
    if (!item || Number(item.error_code) !== 0) {
      throw new Error(`item error_code ${item?.error_code}: ${item?.message}`);
    }
  }

  return { deliver, counters };
}

// ---- simulator ----

async function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

async function startSimulator(bin) {
  const port = await freePort();
  const child = spawn(bin, ["sim", "--listen", `127.0.0.1:${port}`], { stdio: ["ignore", "ignore", "inherit"] });
  // Do not leave the simulator behind if this script dies.
  const killChild = () => child.kill("SIGTERM");
  process.once("exit", killChild);
  child.once("exit", () => process.removeListener("exit", killChild));
  const base = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`simulator exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/sim/stats`);
      if (res.ok) break;
    } catch {}
    if (Date.now() - started > 10000) { child.kill(); throw new Error("simulator did not start"); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { base, stop: () => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM"); }) };
}

async function simStats(base) {
  const res = await fetch(`${base}/sim/stats`);
  return res.json();
}

const sum = (o) => Object.values(o || {}).reduce((a, b) => a + Number(b), 0);
const delta = (after, before, key) => Number(after?.[key] || 0) - Number(before?.[key] || 0);

// ---- one mode ----

async function withDatabase(serverUrl, fn) {
  const name = `gw_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString(), name);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e) => {
      console.error(`could not drop database ${name}: ${e.message}`);
    });
    await admin.end();
  }
}

const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

async function runMode(mode, opts, templates) {
  const tag = String(Date.now() % 100000).padStart(5, "0");
  const jobs = [];
  if (mode === "plain") {
    for (let i = 0; i < opts.jobs; i++) jobs.push(headerJob(templates.dossiers, tag, i, false));
  } else {
    for (let i = 0; i < opts.dossiers; i++) {
      const h = headerJob(templates.dossiers, tag, i, true);
      jobs.push(h);
      for (let j = 0; j < opts.steps; j++) jobs.push(stepJob(templates.steps, h.payload.item.MaHoSo, i, j));
    }
  }

  const sim = opts.sim ? { base: opts.sim, stop: async () => {} } : await startSimulator(opts.lienthong);
  try {
    const before = await simStats(sim.base);
    return await withDatabase(opts.pg, async (connectionString, dbName) => {
      process.stderr.write(`${mode}: database ${dbName}, simulator ${sim.base}, ${jobs.length} jobs\n`);
      const utils = await makeWorkerUtils({ connectionString, logger: quietLogger });
      let enqueueSeconds;
      try {
        await utils.migrate();
        const t0 = performance.now();
        for (let i = 0; i < jobs.length; i += 1000) await utils.addJobs(jobs.slice(i, i + 1000));
        enqueueSeconds = (performance.now() - t0) / 1000;
      } finally {
        await utils.release();
      }
      process.stderr.write(`${mode}: enqueued in ${enqueueSeconds.toFixed(2)} s, running the worker (concurrency ${opts.concurrency})\n`);

      const client = portalClient(sim.base);
      let firstStart = null;
      let lastEnd = null;
      let completed = 0;
      let failures = 0;
      let allDone;
      const done = new Promise((r) => { allDone = r; });
      const taskList = {
        deliver: async (payload) => {
          firstStart ??= performance.now();
          try {
            await client.deliver(payload);
          } catch (e) {
            failures++;
            throw e;
          }
          lastEnd = performance.now();
          if (++completed === jobs.length) allDone();
        },
      };
      // Our own pool, so it can be closed (and its errors handled) before the database is dropped.
      const pgPool = new pg.Pool({ connectionString, max: opts.concurrency + 2 });
      pgPool.on("error", (e) => console.error(`pool: ${e.message}`));
      const runner = await run({
        pgPool,
        concurrency: opts.concurrency,
        noHandleSignals: true,
        pollInterval: 1000,
        taskList,
        logger: quietLogger,
      });
      const progress = setInterval(() => {
        process.stderr.write(`${mode}: ${completed}/${jobs.length} jobs completed\n`);
      }, 10000);
      await done;
      clearInterval(progress);
      // The last task has returned; wait (up to 30 s, not timed) for graphile-worker to delete the
      // completed jobs, then stop the worker.
      const check = new pg.Client({ connectionString });
      await check.connect();
      const left = async () => (await check.query("select count(*)::int as n from graphile_worker.jobs")).rows[0].n;
      let jobsLeft = await left();
      for (let waited = 0; jobsLeft > 0 && waited < 30000; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
        jobsLeft = await left();
      }
      await check.end();
      await runner.stop();
      await pgPool.end();
      const after = await simStats(sim.base);
      const seconds = (lastEnd - firstStart) / 1000;
      return {
        mode,
        jobs: jobs.length,
        enqueueSeconds,
        seconds,
        rate: jobs.length / seconds,
        failures,
        jobsLeft,
        logins: client.counters.logins,
        sessionErrors: client.counters.sessionErrors,
        sim: {
          requests: delta(after, before, "requests"),
          dossiersApplied: delta(after.items_applied, before.items_applied, "DongBoHoSoMC"),
          stepsApplied: delta(after.items_applied, before.items_applied, "CapNhatTienDoHoSoMC"),
          rejected: sum(after.items_rejected) - sum(before.items_rejected),
          violations: sum(after.violations) - sum(before.violations),
          outOfOrder: delta(after, before, "out_of_order_steps"),
          duplicateSteps: delta(after, before, "duplicate_steps"),
          duplicatesAbsorbed: delta(after, before, "duplicates_absorbed"),
        },
        expected: {
          dossiers: mode === "plain" ? opts.jobs : opts.dossiers,
          steps: mode === "plain" ? 0 : opts.dossiers * opts.steps,
        },
      };
    });
  } finally {
    await sim.stop();
  }
}

// ---- main ----

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const templates = {
    dossiers: await mapItems(opts.lienthong, resolve(repo, "mappings/vendor-a/dossier.toml"),
      resolve(repo, "fixtures/local/dossiers.json"), ["DonViXuLy=UBND xã Hậu Lộc"]),
    steps: await mapItems(opts.lienthong, resolve(repo, "mappings/vendor-a/step.toml"),
      resolve(repo, "fixtures/local/steps.json")),
  };
  const gwPkg = JSON.parse(readFileSync(resolve(here, "node_modules/graphile-worker/package.json"), "utf8"));
  const modes = opts.mode === "both" ? ["plain", "queue"] : [opts.mode];
  const results = [];
  for (const mode of modes) results.push(await runMode(mode, opts, templates));

  const label = {
    plain: "plain jobs (header only, 1 POST/job)",
    queue: `queue per dossier (1 header + ${opts.steps} steps)`,
  };
  console.log(`graphile-worker ${gwPkg.version}, node ${process.version}, concurrency ${opts.concurrency}, ` +
    `${templates.dossiers.length} dossier / ${templates.steps.length} step templates from lienthong map`);
  console.log("");
  const row = (...c) => `  ${c[0].padEnd(44)}${c[1].padStart(8)}${c[2].padStart(11)}${c[3].padStart(10)}${c[4].padStart(10)}`;
  console.log(row("mode", "jobs", "enqueue s", "seconds", "jobs/s"));
  for (const r of results) {
    console.log(row(label[r.mode], String(r.jobs), r.enqueueSeconds.toFixed(2), r.seconds.toFixed(2), r.rate.toFixed(0)));
  }
  console.log("");
  let ok = true;
  for (const r of results) {
    const s = r.sim;
    const good = s.dossiersApplied === r.expected.dossiers && s.stepsApplied === r.expected.steps &&
      s.rejected === 0 && s.violations === 0 && s.outOfOrder === 0 && r.jobsLeft === 0;
    ok &&= good;
    console.log(`  ${r.mode}: simulator applied ${s.dossiersApplied}/${r.expected.dossiers} dossiers, ` +
      `${s.stepsApplied}/${r.expected.steps} steps; rejected ${s.rejected}, violations ${s.violations}, ` +
      `out-of-order steps ${s.outOfOrder}, duplicate steps ${s.duplicateSteps}; ` +
      `${s.requests} requests (${r.logins} logins, ${r.sessionErrors} session errors); ` +
      `failed attempts ${r.failures}, jobs left ${r.jobsLeft} → ${good ? "ok" : "NOT OK"}`);
  }
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(2);
});
