#!/usr/bin/env node
// A `solc` look-alike over the npm solcjs (wasm) compiler, for py-solc-x's standard-JSON path.
// `solcjs --standard-json` prints a non-JSON line before its output and has no --combined-json;
// this adapter answers exactly the two calls py-solc-x makes:
//   --version                          -> "solc, the solidity compiler ...\nVersion: X"
//   --standard-json [--allow-paths P]  -> standard JSON in on stdin, standard JSON out on stdout
// Imports resolve against the project root, then node_modules (for @openzeppelin/...).
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));
const args = process.argv.slice(2);

if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes("--standard-json")) {
  process.stderr.write("solcjs-standard-json: only --version and --standard-json are supported\n");
  process.exit(2);
}

function findImports(importPath) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const candidate = path.resolve(base, importPath);
    if (candidate.startsWith(base) && fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath}` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
