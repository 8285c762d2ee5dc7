// Loads the probe's wasm build and prints each case's output, one per line, as JSON strings.
import { readFileSync } from "node:fs";
const bytes = readFileSync(process.argv[2]);
const { instance } = await WebAssembly.instantiate(bytes, {});
const { probe_case, probe_cases, memory } = instance.exports;
const out = [];
for (let n = 0; n < probe_cases(); n++) {
  const packed = BigInt.asUintN(64, probe_case(n));
  const ptr = Number(packed >> 32n), len = Number(packed & 0xffffffffn);
  out.push(new TextDecoder().decode(new Uint8Array(memory.buffer, ptr, len)));
}
process.stdout.write(JSON.stringify(out));
