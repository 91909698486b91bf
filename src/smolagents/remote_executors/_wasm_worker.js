// Web Worker that owns Pyodide for smolagents' WasmExecutor (started by _wasm_runner.js).
//
// Why a worker: Python runs synchronously, so while it runs the thread that runs it can do
// nothing else. With Pyodide here, the main thread stays free to watch the deadline and set
// Pyodide's interrupt buffer (a SharedArrayBuffer), which raises KeyboardInterrupt in Python:
// a timed-out call stops without losing the interpreter's state. The worker inherits the
// main thread's (minimal) Deno permissions.
//
// Messages in:  {type: "init", snapshotPath, interrupt}  then requests {op: ...} (see the runner)
// Messages out: {ready, python, snapshot} or {fatal}; then one reply per request.

const encoder = new TextEncoder();

function toStderr(...args) {
  Deno.stderr.writeSync(encoder.encode(args.map(String).join(" ") + "\n"));
}

// Nothing printed here may reach stdout, which carries the protocol.
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;
console.error = toStderr;

// Python can reach Deno.exit and close() through the js module. In a worker they would end
// only this thread and leave the main one waiting forever, so they end the process instead
// (the host then reports the lost session and starts a new one).
const exitWorker = (code) => {
  self.postMessage({ exit: typeof code === "number" ? code : 0 });
  // Block this thread until the main thread ends the process: Python runs no further.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
};
try {
  Object.defineProperty(Deno, "exit", { value: exitWorker });
} catch (error) {
  toStderr(`Deno.exit could not be redirected: ${error}`);
}
self.close = () => exitWorker(0);

let pyodide = null;

async function load(snapshotPath) {
  const { loadPyodide } = await import("npm:pyodide@0.29.3");
  const options = { stdout: toStderr, stderr: toStderr };
  if (snapshotPath) {
    // A memory snapshot of a freshly started interpreter: ~0.5 s instead of ~3.5 s.
    try {
      return [await loadPyodide({ ...options, _loadSnapshot: Deno.readFileSync(snapshotPath) }), true];
    } catch (error) {
      toStderr(`snapshot ${snapshotPath} not used: ${error}`);
    }
  }
  return [await loadPyodide(options), false];
}

async function init(message) {
  try {
    const [loaded, fromSnapshot] = await load(message.snapshotPath);
    pyodide = loaded;
    pyodide.setInterruptBuffer(new Uint8Array(message.interrupt));
    const python = pyodide.runPython("import sys; sys.version.split()[0]");
    return { ready: true, python, snapshot: fromSnapshot };
  } catch (error) {
    return { fatal: `could not load Pyodide: ${error}` };
  }
}

async function handle(request) {
  try {
    if (request.op === "boot") {
      // The harness source arrives from the host so it is versioned with the Python package.
      pyodide.runPython(request.code, { filename: "<smolagents-harness>" });
      return { ok: true };
    }
    if (request.op === "call") {
      // Call a harness function with string arguments; it returns a JSON string.
      const fn = pyodide.globals.get(request.fn);
      if (!fn) throw new Error(`no harness function ${request.fn}`);
      try {
        return { ok: true, result: fn(...request.args) };
      } finally {
        fn.destroy();
      }
    }
    if (request.op === "load_packages") {
      const messages = [];
      const errors = [];
      const loaded = await pyodide.loadPackage(request.names, {
        messageCallback: (msg) => messages.push(String(msg)),
        errorCallback: (msg) => errors.push(String(msg)),
        checkIntegrity: true,
      });
      return { ok: true, loaded: (loaded || []).map((pkg) => pkg.name), errors, messages };
    }
    return { ok: false, error: `unknown op ${JSON.stringify(request.op)}` };
  } catch (error) {
    return { ok: false, error: String(error && error.stack ? error.stack : error) };
  }
}

// One message at a time, in order, even when a handler awaits.
let queue = Promise.resolve();
self.onmessage = (event) => {
  const message = event.data;
  queue = queue.then(async () => {
    self.postMessage(message.type === "init" ? await init(message) : await handle(message));
  });
};
