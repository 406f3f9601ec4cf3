// Compile contracts/src with the pinned solc (npm package) into deterministic JSON artifacts.
// Usage: node compile.mjs OUTPUT_DIR
// The same sources and solc version always give byte-identical files, which is what lets a test
// prove the committed artifacts match their sources.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, "artifacts"));

// Contracts that get an artifact; everything else in src/ is a library or an interface.
const CONTRACTS = {
  "src/Consortium.sol": ["Consortium"],
  "src/MykeyRegistry.sol": ["MykeyRegistry"],
  "src/PointLedger.sol": ["PointLedger"],
  "src/Settlement.sol": ["Settlement"],
  "src/Proxy.sol": ["LedgerProxy"],
  "src/testing/PointLedgerV2.sol": ["PointLedgerV2"],
};

function listSources(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? listSources(full) : entry.name.endsWith(".sol") ? [full] : [];
    })
    .sort();
}

const sources = {};
for (const file of listSources(path.join(here, "src"))) {
  sources[path.relative(here, file).split(path.sep).join("/")] = {
    content: fs.readFileSync(file, "utf8"),
  };
}

const settings = {
  evmVersion: "prague",
  optimizer: { enabled: true, runs: 200 },
  viaIR: true,
  metadata: { bytecodeHash: "ipfs" },
  outputSelection: {
    "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"] },
  },
};

function findImports(importPath) {
  const candidates = [path.join(here, importPath), path.join(here, "node_modules", importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `not found: ${importPath}` };
}

const output = JSON.parse(
  solc.compile(JSON.stringify({ language: "Solidity", sources, settings }), { import: findImports }),
);
const errors = (output.errors ?? []).filter((e) => e.severity === "error");
for (const e of output.errors ?? []) console.error(e.formattedMessage);
if (errors.length > 0) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
for (const [source, names] of Object.entries(CONTRACTS)) {
  for (const name of names) {
    const c = output.contracts[source][name];
    const artifact = {
      contractName: name,
      sourceName: source,
      compiler: { name: "solc", version: solc.version(), settings: { evmVersion: settings.evmVersion, optimizer: settings.optimizer, viaIR: settings.viaIR } },
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      metadata: c.metadata,
    };
    const size = c.evm.deployedBytecode.object.length / 2;
    if (size > 24576) {
      console.error(`${name}: deployed code ${size} bytes exceeds the EIP-170 limit of 24576`);
      process.exit(1);
    }
    fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
    console.log(`${name}: ${size} bytes deployed`);
  }
}
