// Starts a worker thread from a sibling module given as its built `.js` URL. From the
// TypeScript sources (vitest), where only the `.ts` exists, the worker first registers a
// module hook that transpiles .ts with the project's `typescript` (type-stripping only).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

function tsLoaderSource(requireBase: string): string {
  return `
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
const ts = createRequire(${JSON.stringify(requireBase)})('typescript');
export async function resolve(spec, ctx, next) {
  if (spec.endsWith('.js') && ctx.parentURL && ctx.parentURL.endsWith('.ts') && (spec.startsWith('.') || spec.startsWith('file:'))) {
    const js = new URL(spec, ctx.parentURL);
    const tsUrl = new URL(js.href.slice(0, -3) + '.ts');
    if (!existsSync(fileURLToPath(js)) && existsSync(fileURLToPath(tsUrl))) return { url: tsUrl.href, shortCircuit: true };
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const file = fileURLToPath(url);
    const out = ts.transpileModule(await readFile(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    });
    return { format: 'module', source: out.outputText, shortCircuit: true };
  }
  return next(url, ctx);
}`;
}

export function startWorker(jsUrl: URL, options: WorkerOptions = {}): Worker {
  if (existsSync(fileURLToPath(jsUrl))) return new Worker(jsUrl, options);
  const tsUrl = new URL(jsUrl.href.replace(/\.js$/, '.ts'));
  if (!existsSync(fileURLToPath(tsUrl))) throw new Error(`worker module ${fileURLToPath(jsUrl)} not found`);
  const loader = 'data:text/javascript,' + encodeURIComponent(tsLoaderSource(fileURLToPath(tsUrl)));
  const boot = `import { register } from 'node:module';
register(${JSON.stringify(loader)});
await import(${JSON.stringify(tsUrl.href)});`;
  return new Worker(new URL('data:text/javascript,' + encodeURIComponent(boot)), options);
}
