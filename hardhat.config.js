// Hardhat 2 configuration that compiles offline with the npm `solc` package (solcjs, wasm).
// The native compiler download sites are unreachable here, so the compiler-resolution
// subtask is overridden to hand Hardhat the soljson.js that ships inside node_modules/solc.
const path = require("path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
require("solidity-coverage");

const SOLC_VERSION = require("solc/package.json").version;

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion === SOLC_VERSION) {
    const solc = require("solc");
    return {
      compilerPath: path.join(path.dirname(require.resolve("solc/package.json")), "soljson.js"),
      isSolcJs: true,
      version: args.solcVersion,
      longVersion: solc.version(),
    };
  }
  return runSuper();
});

// Shared with the Python build (ledger/build.py reads contracts/compiler.json), so both
// toolchains produce the same bytecode.
const compilerSettings = require("./contracts/compiler.json");

module.exports = {
  solidity: {
    version: SOLC_VERSION,
    settings: compilerSettings.settings,
  },
  paths: {
    sources: "./contracts/src",
    artifacts: "./build/hardhat/artifacts",
    cache: "./build/hardhat/cache",
    tests: "./tests/contracts-hardhat",
  },
  networks: {
    hardhat: { allowUnlimitedContractSize: false },
  },
};
