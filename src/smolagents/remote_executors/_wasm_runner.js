// Deno side of smolagents' WasmExecutor: Pyodide (CPython compiled to WebAssembly) driven over
// line-delimited JSON on stdin/stdout.
//
// Why so small: every decision (what to run, how values are encoded) lives in Python on the host
// and in the Python harness that the host sends at start-up. Pyodide runs in a worker
// (_wasm_worker.js); this thread relays requests, and interrupts Python when a request's
// "timeout" (seconds) passes, so a timed-out call keeps the interpreter's state. Protocol lines
// go to stdout; anything else Pyodide or a package prints goes to stderr, so a stray
// console.log can never corrupt the protocol.
//
// Requests  {"id": n, "op": "boot", "code": "<harness>"}   -> {"id": n, "ok": true}
//           {"id": n, "op": "call", "fn": "f", "args": [], "timeout": s}
//                                                 -> {"id": n, "ok": true, "result": "<json>", "interrupted": bool}
//           {"id": n, "op": "load_packages", "names": []} -> {"id": n, "ok": true, "loaded": [], "errors": []}
// Start-up: the first line written is {"ready": true, "python": "3.x.y"} (or {"fatal": "..."}).
// Usage:    deno run --no-prompt --no-config --allow-read=<DENO_DIR>/npm[,<snapshot>] _wasm_runner.js
//                [--snapshot <file>]          start from a memory snapshot (falls back to a cold start)
//           ... --allow-write=<file> _wasm_runner.js --make-snapshot <file>   (runs no model code)
// The Pyodide version is pinned here and in _wasm_worker.js; keep PYODIDE_VERSION in _deno.py in step.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function send(obj) {
  const bytes = encoder.encode(JSON.stringify(obj) + "\n");
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

function toStderr(...args) {
  Deno.stderr.writeSync(encoder.encode(args.map(String).join(" ") + "\n"));
}

// Keep stdout for the protocol only.
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

async function* readLines(stream) {
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim()) yield line;
      newline = buffer.indexOf("\n");
    }
  }
  if (buffer.trim()) yield buffer;
}

// Modules the smolagents runtime and codec import: in the snapshot, so start-up skips them.
const PRELOAD = "import ast, base64, contextlib, datetime, decimal, fractions, io, json, math, re, sys, " +
  "traceback, types, warnings, zipfile, importlib.metadata, importlib.util";

async function makeSnapshot(path) {
  // Runs no model code: a fresh interpreter, the preloaded modules, written to `path`.
  const { loadPyodide } = await import("npm:pyodide@0.29.3");
  const pyodide = await loadPyodide({ stdout: toStderr, stderr: toStderr, _makeSnapshot: true });
  pyodide.runPython(PRELOAD);
  Deno.writeFileSync(path, pyodide.makeMemorySnapshot());
  send({ snapshot: path });
}

async function main() {
  const args = Deno.args;
  if (args[0] === "--make-snapshot") {
    try {
      await makeSnapshot(args[1]);
    } catch (error) {
      send({ fatal: `could not make a snapshot: ${error}` });
      Deno.exit(3);
    }
    return;
  }
  // Pyodide lives in a worker; this thread relays requests and enforces deadlines.
  const interrupt = new SharedArrayBuffer(1);
  const flag = new Uint8Array(interrupt);
  const worker = new Worker(new URL("./_wasm_worker.js", import.meta.url).href, { type: "module" });
  let pending = null;
  worker.onmessage = (event) => {
    if (event.data && "exit" in event.data) {
      toStderr(`Python ended the process (exit code ${event.data.exit})`);
      Deno.exit(5);
    }
    const resolve = pending;
    pending = null;
    if (resolve) resolve(event.data);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    send({ fatal: `the Pyodide worker failed: ${event.message}` });
    Deno.exit(4);
  };
  const ask = (message) =>
    new Promise((resolve) => {
      pending = resolve;
      worker.postMessage(message);
    });

  const first = await ask({
    type: "init",
    snapshotPath: args[0] === "--snapshot" ? args[1] : null,
    interrupt,
  });
  send(first);
  if (!first.ready) Deno.exit(3);

  for await (const line of readLines(Deno.stdin.readable)) {
    let request;
    try {
      request = JSON.parse(line);
    } catch (error) {
      send({ id: null, ok: false, error: `malformed request: ${error}` });
      continue;
    }
    const id = request.id ?? null;
    // Past the deadline, raise KeyboardInterrupt in Python (again every 500 ms, in case the
    // code catches it); the host kills the whole process if even that does not stop it.
    Atomics.store(flag, 0, 0);
    let interrupted = false;
    let repeat = null;
    const deadline = typeof request.timeout === "number" && request.timeout > 0
      ? setTimeout(() => {
        interrupted = true;
        Atomics.store(flag, 0, 2); // SIGINT
        repeat = setInterval(() => Atomics.store(flag, 0, 2), 500);
      }, request.timeout * 1000)
      : null;
    const reply = await ask(request);
    if (deadline !== null) clearTimeout(deadline);
    if (repeat !== null) clearInterval(repeat);
    Atomics.store(flag, 0, 0);
    send({ ...reply, id, interrupted });
  }
  worker.terminate();
}

await main();
