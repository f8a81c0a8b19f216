#!/usr/bin/env node
// Solidity coverage of contracts/src, measured by the project's own pytest + web3.py contract suite.
//
//   node scripts/coverage/run.js [-- extra pytest args]     (scripts/coverage.sh is the entry point)
//
// 1. instrument contracts/src/*.sol with solidity-coverage's API (bench/, test/, interfaces/ skipped)
// 2. compile the instrumented sources with the npm solcjs (optimizer off, as solidity-coverage does)
//    and write every contract as a ledger/artifacts-format JSON into a temporary directory
// 3. serve an in-process Hardhat network over JSON-RPC (the `node` task's server) that records the
//    hits. solidity-coverage's own collector listens to every VM step, which Hardhat 2 (EDR) hands
//    to JS as one array per request: ~2 KiB of heap per step, so one large transaction (a 50-trade
//    settleBatch is >10 M steps) exhausts the heap. Instead, each injected hit function also
//    staticcalls EDR's coverage address with its hash (the scheme of Hardhat's own coverage
//    library), EDR's native collector reports the hashes per transaction/call, and they are counted
//    into solidity-coverage's instrumentation data. COVERAGE_COLLECTOR=steps selects the original
//    step listener instead (fine for small runs; used to cross-check).
// 4. run `.venv/bin/python -m pytest tests/contracts ...` with DATALEDGER_TEST_RPC_URL (the node) and
//    DATALEDGER_ARTIFACTS_DIR (the instrumented artifacts): tests/conftest.py and ledger/artifacts.py
//    honour those
// 5. write the istanbul report (coverage/: html, lcov, json, json-summary), coverage.json, and
//    coverage/uncovered.txt; print per-file line/branch/function/statement %; exit 1 below the
//    thresholds (COVERAGE_MIN_LINES, COVERAGE_MIN_BRANCHES) or when pytest failed (unless
//    COVERAGE_IGNORE_TEST_FAILURES=1).
"use strict";

// Before Hardhat loads: solidity-coverage's extendConfig then sets up the Hardhat network for
// instrumented code (allowUnlimitedContractSize, huge block gas limit, gas price 1, base fee 0).
process.env.SOLIDITY_COVERAGE = "true";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawn } = require("child_process");

const ROOT = path.resolve(__dirname, "..", "..");
process.chdir(ROOT);

const hre = require("hardhat");
const { TASK_NODE_CREATE_SERVER } = require("hardhat/builtin-tasks/task-names");
const API = require("solidity-coverage/api");
const solc = require("solc");

const SOURCES = path.join(ROOT, "contracts", "src");
const SKIP_DIRS = ["bench", "test", "interfaces"]; // compiled, deployed where tests need them, not measured
const REPORT_DIR = path.join(ROOT, "coverage");
const MIN_LINES = Number(process.env.COVERAGE_MIN_LINES ?? 95);
const MIN_BRANCHES = Number(process.env.COVERAGE_MIN_BRANCHES ?? 90);
const PYTHON = process.env.COVERAGE_PYTHON || path.join(ROOT, ".venv", "bin", "python");
// Deselected under coverage: the soak run, tests that need anvil's own RPC methods (anvil_only),
// gas measurements (gas: instrumented, unoptimised bytecode costs 2-3x), and the
// compiler-agreement tests (they compile, they never touch the chain).
const PYTEST_ARGS = [
  "-m", "pytest", "tests/contracts",
  "-m", "not soak and not anvil_only and not gas",
  "--ignore=tests/contracts/test_build.py",
  "-p", "no:cacheprovider", "-q",
];

function log(msg) {
  process.stderr.write(`\x1b[1;34m[coverage]\x1b[0m ${msg}\n`);
}

function solFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...solFiles(full));
    else if (entry.name.endsWith(".sol")) out.push(full);
  }
  return out.sort();
}

function isMeasured(file) {
  const rel = path.relative(SOURCES, file).split(path.sep);
  return !(rel.length > 1 && SKIP_DIRS.includes(rel[0]));
}

function findImports(importPath) {
  for (const base of [ROOT, path.join(ROOT, "node_modules")]) {
    const candidate = path.resolve(base, importPath);
    if (candidate.startsWith(base) && fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath}` };
}

// EDR's native coverage collector records the calldata of every call to this address (the address
// of Hardhat's __HardhatCoverage library).
const EDR_COVERAGE_ADDRESS = "0xc0bEc0BEc0BeC0bEC0beC0bEC0bEC0beC0beC0BE";
const COLLECTOR = process.env.COVERAGE_COLLECTOR || "edr";

/**
 * Make every hit function solidity-coverage injected (`function c_0x..(bytes8 c__0x..) [internal]
 * pure [returns (bool)] {...}`) also send its hash to EDR's coverage address. The sender is a free
 * function, named per file (files import each other), cast from view to pure as Hardhat's library does.
 */
function reportHitsToEdr(source, file) {
  const id = require("crypto").createHash("sha256").update(file).digest("hex").slice(0, 10);
  const hit = `__covHit_${id}`;
  let n = 0;
  const out = source.replace(
    /(function c_\w+\(bytes8 (c__\w+)\) (?:internal )?pure(?: returns \(bool\))?\s*)\{/g,
    (_, head, arg) => { n++; return `${head}{ ${hit}(${arg}); `; },
  );
  if (n === 0) return source;
  return out + `
function __covSend_${id}(bytes8 h) view {
    assembly ("memory-safe") {
        mstore(0, h)
        pop(staticcall(gas(), ${EDR_COVERAGE_ADDRESS}, 0, 32, 0, 0))
    }
}
function __covPure_${id}(function(bytes8) view f) pure returns (function(bytes8) pure g) {
    assembly ("memory-safe") { g := f }
}
function ${hit}(bytes8 h) pure { __covPure_${id}(__covSend_${id})(h); }
`;
}

/**
 * Answer errors the way anvil does: `error.data` is the revert data itself ("0x..."), where Hardhat
 * sends `{message, data}`. The tests decode custom errors from raw JSON-RPC replies.
 */
function anvilErrorShape() {
  const { JsonRpcHandler } = require("hardhat/internal/hardhat-network/jsonrpc/handler");
  const send = JsonRpcHandler.prototype._sendResponse;
  const flatten = (resp) => {
    const data = resp && resp.error && resp.error.data;
    if (data && typeof data === "object" && typeof data.data === "string") resp.error.data = data.data;
    return resp;
  };
  JsonRpcHandler.prototype._sendResponse = function (res, rpcResp) {
    return send.call(this, res, Array.isArray(rpcResp) ? rpcResp.map(flatten) : flatten(rpcResp));
  };
}

/** Route EDR's coverage reports (hashes, once per transaction or call) into solidity-coverage's data. */
function collectFromEdr(api) {
  const edr = require("@nomicfoundation/edr");
  const data = api.instrumenter.instrumentationData;
  const stats = { reports: 0, hits: 0, unknown: 0 };
  const createProvider = edr.EdrContext.prototype.createProvider;
  edr.EdrContext.prototype.createProvider = function (chainType, config, ...rest) {
    config.observability = {
      ...(config.observability || {}),
      codeCoverage: {
        onCollectedCoverageCallback: async (hits) => {
          stats.reports++;
          for (const tag of hits) {
            const key = "0x" + Buffer.from(tag).subarray(0, 8).toString("hex");
            if (data[key]) { data[key].hits++; stats.hits++; } else stats.unknown++;
          }
        },
      },
    };
    return createProvider.call(this, chainType, config, ...rest);
  };
  return stats;
}

/** Instrument the measured sources; returns {sourceName: content} for every file under contracts/src. */
function instrument(api) {
  const files = solFiles(SOURCES);
  const targets = files.filter(isMeasured).map((f) => ({
    source: fs.readFileSync(f, "utf8"),
    canonicalPath: f,
    relativePath: path.relative(ROOT, f),
  }));
  const instrumented = new Map(api.instrument(targets).map((t) => [t.canonicalPath, t.source]));
  if (COLLECTOR === "edr") {
    for (const [file, source] of instrumented) instrumented.set(file, reportHitsToEdr(source, file));
  }
  const sources = {};
  for (const f of files) {
    const name = path.relative(ROOT, f).split(path.sep).join("/");
    sources[name] = { content: instrumented.get(f) ?? fs.readFileSync(f, "utf8") };
  }
  log(`instrumented ${targets.length} of ${files.length} sources (skipped: ${SKIP_DIRS.join("/, ")}/)`);
  return sources;
}

/** Compile with solcjs; returns ledger/artifacts-format objects by contract name (ledger/build.py's shape). */
function compile(sources) {
  const { settings } = require(path.join(ROOT, "contracts", "compiler.json"));
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...settings,
      optimizer: { enabled: false }, // the optimizer would fold away instrumentation
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object",
                     "evm.deployedBytecode.immutableReferences", "evm.methodIdentifiers"] },
      },
    },
  };
  const t0 = Date.now();
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  if (errors.length) {
    throw new Error("instrumented build failed:\n" + errors.map((e) => e.formattedMessage || e.message).join("\n"));
  }
  log(`compiled instrumented sources with solcjs ${solc.version()} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const artifacts = {};
  for (const [sourceName, contracts] of Object.entries(output.contracts || {})) {
    if (!sourceName.startsWith("contracts/")) continue;
    for (const [name, data] of Object.entries(contracts)) {
      const evm = data.evm || {};
      artifacts[name] = {
        contractName: name,
        sourceName,
        abi: data.abi || [],
        bytecode: "0x" + ((evm.bytecode || {}).object || ""),
        deployedBytecode: "0x" + ((evm.deployedBytecode || {}).object || ""),
        immutableReferences: (evm.deployedBytecode || {}).immutableReferences || {},
        methodIdentifiers: evm.methodIdentifiers || {},
      };
    }
  }
  return artifacts;
}

/** The step-event emitter of the Hardhat network under `provider` (as solidity-coverage finds it). */
function vmEvents(provider) {
  let cur = provider;
  while (cur._wrapped) cur = cur._wrapped;
  return cur._node._vm.evm.events;
}

function runPytest(env, extraArgs) {
  return new Promise((resolve, reject) => {
    // test paths given on the command line replace the default tests/contracts
    const base = extraArgs.some((a) => a.startsWith("tests/")) ? PYTEST_ARGS.filter((a) => a !== "tests/contracts") : PYTEST_ARGS;
    const args = [...base, ...extraArgs];
    log(`${path.relative(ROOT, PYTHON)} ${args.join(" ")}`);
    const child = spawn(PYTHON, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolve(signal ? 128 : code));
  });
}

function pct(m) {
  return m.total === 0 ? 100 : m.pct;
}

/** Compress sorted line numbers into "12-14, 20". */
function ranges(lines) {
  const out = [];
  let start = null;
  let prev = null;
  for (const n of lines) {
    if (start === null) start = n;
    else if (n !== prev + 1) { out.push(start === prev ? `${start}` : `${start}-${prev}`); start = n; }
    prev = n;
  }
  if (start !== null) out.push(start === prev ? `${start}` : `${start}-${prev}`);
  return out.join(", ");
}

/** Uncovered lines and branch arms, per file, from istanbul's coverage map. */
function uncoveredReport(map) {
  const lines = []; // full: every missed line and branch arm with its source text
  const brief = []; // console: ranges only
  for (const [file, cov] of Object.entries(map).sort()) {
    const src = fs.readFileSync(path.resolve(ROOT, file), "utf8").split("\n");
    const missLines = Object.entries(cov.l).filter(([, hits]) => hits === 0).map(([n]) => Number(n)).sort((a, b) => a - b);
    const missBranches = [];
    for (const [id, counts] of Object.entries(cov.b)) {
      const meta = cov.branchMap[id];
      counts.forEach((hits, arm) => {
        if (hits === 0) {
          const kind = meta.type === "if" ? (arm === 0 ? "if-true" : "if-false") : `${meta.type}[${arm}]`;
          missBranches.push({ line: meta.line, kind });
        }
      });
    }
    missBranches.sort((a, b) => a.line - b.line);
    const missFns = Object.entries(cov.f).filter(([, hits]) => hits === 0).map(([id]) => cov.fnMap[id]);
    if (!missLines.length && !missBranches.length && !missFns.length) continue;
    lines.push(`${file}`);
    brief.push(`${file}`);
    if (missLines.length) brief.push(`  lines: ${ranges(missLines)}`);
    if (missBranches.length) brief.push(`  branch arms: ${missBranches.map((b) => `${b.line} ${b.kind}`).join(", ")}`);
    if (missFns.length) brief.push(`  functions: ${missFns.map((f) => f.name).join(", ")}`);
    if (missLines.length) {
      lines.push(`  lines not run: ${ranges(missLines)}`);
      for (const n of missLines) lines.push(`    ${String(n).padStart(4)} | ${src[n - 1].trim()}`);
    }
    if (missFns.length) lines.push(`  functions not run: ${missFns.map((f) => `${f.name} (line ${f.line})`).join(", ")}`);
    if (missBranches.length) {
      lines.push(`  branch arms not taken (${missBranches.length}):`);
      for (const b of missBranches) lines.push(`    ${String(b.line).padStart(4)} ${b.kind.padEnd(9)} | ${src[b.line - 1].trim()}`);
    }
  }
  return { full: lines.join("\n"), brief: brief.join("\n") };
}

async function main() {
  const dashdash = process.argv.indexOf("--");
  const extraPytestArgs = dashdash >= 0 ? process.argv.slice(dashdash + 1) : [];

  const api = new API({
    istanbulFolder: REPORT_DIR,
    istanbulReporter: ["html", "lcov", "json", "json-summary"],
    silent: true,
  }, hre.config.networks.hardhat.hardfork);

  // 1-2. instrument + compile + write artifacts
  const artifacts = compile(instrument(api));
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), "dataledger-coverage-"));
  for (const [name, artifact] of Object.entries(artifacts)) {
    fs.writeFileSync(path.join(artifactsDir, `${name}.json`), JSON.stringify(artifact));
  }
  log(`wrote ${Object.keys(artifacts).length} instrumented artifacts to ${artifactsDir}`);

  // 3. in-process Hardhat network with the collector on its VM, served over HTTP on a free port
  // Like anvil, mine a failing transaction (receipt status 0) and return its hash instead of
  // answering eth_sendTransaction with an error (the provider is created lazily, on first use).
  hre.config.networks.hardhat.throwOnTransactionFailures = false;
  const provider = hre.network.provider;
  let edrStats = null;
  if (COLLECTOR === "edr") {
    edrStats = collectFromEdr(api); // before the (lazy) provider creates its EDR provider
    await provider.init();
  } else {
    await api.attachToHardhatVM(provider);
  }
  if (process.env.COVERAGE_DEBUG) {
    let n = 0;
    vmEvents(provider).on("step", () => n++);
    const req = provider.request.bind(provider);
    provider.request = async (args) => {
      n = 0;
      const r = await req(args);
      if (n > 100000) log(`${args.method}: ${n} steps, heap ${(process.memoryUsage().heapUsed / 2 ** 30).toFixed(2)} GiB`);
      return r;
    };
  }
  anvilErrorShape();
  const server = await hre.run(TASK_NODE_CREATE_SERVER, { hostname: "127.0.0.1", port: 0, provider });
  const { address, port } = await server.listen();
  const rpcUrl = `http://${address}:${port}`;
  const netCfg = hre.config.networks.hardhat;
  log(`Hardhat network (chain id ${netCfg.chainId}, hardfork ${netCfg.hardfork}, unlimited contract size) at ${rpcUrl}`);

  // 4. the contract suite against it
  const t0 = Date.now();
  const pytestCode = await runPytest(
    { DATALEDGER_TEST_RPC_URL: rpcUrl, DATALEDGER_ARTIFACTS_DIR: artifactsDir },
    extraPytestArgs,
  );
  if (edrStats) log(`EDR coverage: ${edrStats.reports} reports, ${edrStats.hits} hits, ${edrStats.unknown} unknown tags`);
  log(`pytest exited ${pytestCode} after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await server.close();
  if (!process.env.COVERAGE_KEEP_ARTIFACTS) fs.rmSync(artifactsDir, { recursive: true, force: true });

  // 5. reports
  fs.rmSync(REPORT_DIR, { recursive: true, force: true });
  await api.report(); // coverage/ (html, lcov, coverage-final.json, coverage-summary.json) + coverage.json
  const summary = JSON.parse(fs.readFileSync(path.join(REPORT_DIR, "coverage-summary.json"), "utf8"));
  const map = JSON.parse(fs.readFileSync(path.join(REPORT_DIR, "coverage-final.json"), "utf8"));
  const uncovered = uncoveredReport(map);
  fs.writeFileSync(path.join(REPORT_DIR, "uncovered.txt"), uncovered.full + "\n");

  const rows = Object.entries(summary).filter(([k]) => k !== "total").sort(([a], [b]) => a.localeCompare(b));
  rows.push(["total", summary.total]);
  const col = (m) => `${pct(m).toFixed(2).padStart(7)}% ${`(${m.covered}/${m.total})`.padEnd(11)}`;
  const width = Math.max(...rows.map(([f]) => path.relative(ROOT, path.resolve(ROOT, f)).length), 8);
  const out = [];
  out.push(`\n${"file".padEnd(width)}  ${"lines".padEnd(20)}${"branches".padEnd(20)}${"functions".padEnd(20)}statements`);
  out.push("-".repeat(width + 82));
  for (const [file, m] of rows) {
    if (file === "total") out.push("-".repeat(width + 82));
    const name = file === "total" ? "total" : path.relative(ROOT, path.resolve(ROOT, file));
    out.push(`${name.padEnd(width)}  ${col(m.lines)}${col(m.branches)}${col(m.functions)}${col(m.statements)}`);
  }
  console.log(out.join("\n"));
  if (uncovered.brief) console.log(`\nnot covered (with source lines: coverage/uncovered.txt):\n${uncovered.brief}`);
  console.log(`\nreport: coverage/index.html, coverage/lcov.info, coverage/coverage-summary.json`);

  const lines = pct(summary.total.lines);
  const branches = pct(summary.total.branches);
  let failed = false;
  if (lines < MIN_LINES) { console.log(`FAIL: line coverage ${lines.toFixed(2)}% < ${MIN_LINES}%`); failed = true; }
  if (branches < MIN_BRANCHES) { console.log(`FAIL: branch coverage ${branches.toFixed(2)}% < ${MIN_BRANCHES}%`); failed = true; }
  if (pytestCode !== 0) {
    console.log(`${process.env.COVERAGE_IGNORE_TEST_FAILURES ? "WARNING" : "FAIL"}: pytest exited ${pytestCode} under coverage`);
    if (!process.env.COVERAGE_IGNORE_TEST_FAILURES) failed = true;
  }
  if (!failed) console.log(`OK: lines ${lines.toFixed(2)}% >= ${MIN_LINES}%, branches ${branches.toFixed(2)}% >= ${MIN_BRANCHES}%`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => { console.error(err && err.stack ? err.stack : err); process.exit(2); },
);
