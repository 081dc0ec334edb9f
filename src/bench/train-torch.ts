// The PyTorch side of `bench train`: scripts/bench_train_torch.py as a long-lived child process
// that runs K timed steps per request, so the benchmark can alternate rounds between ORT and
// torch and both see the same machine drift. Python is only a baseline here, never a dependency.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { packageRoot } from '../../bindings/native.js';

export interface TorchRound {
  /** zero_grad + forward + loss + backward, ms per step. */
  fb: number[];
  /** torch.optim.Adam.step, ms per step. */
  opt: number[];
  /** Process CPU time per whole step (all threads), ms. */
  cpu: number[];
  loss: number;
}

export interface TorchExit {
  peakRssBytes: number;
  torch: string;
  threads: number;
}

/** The first of `python3`, `/usr/bin/python3` that imports torch, or why none does. */
export function findTorchPython(): { python: string } | { unavailable: string } {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (r.status === 0) return { python };
  }
  return { unavailable: 'neither python3 nor /usr/bin/python3 can import torch' };
}

export class TorchStepper {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: Interface,
    private readonly stderr: string[],
  ) {}

  static async start(python: string, args: string[]): Promise<TorchStepper> {
    const script = join(packageRoot(), 'scripts', 'bench_train_torch.py');
    const child = spawn(python, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
    const s = new TorchStepper(child, createInterface({ input: child.stdout }), stderr);
    await s.next();
    return s;
  }

  /** Runs `k` timed steps in the torch process. */
  async run(k: number): Promise<TorchRound> {
    this.child.stdin.write(`run ${k}\n`);
    return (await this.next()) as TorchRound;
  }

  async quit(): Promise<TorchExit> {
    this.child.stdin.write('quit\n');
    const r = (await this.next()) as TorchExit;
    this.child.stdin.end();
    return r;
  }

  private next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const fail = (code: number | null) => reject(new Error(`bench_train_torch.py exited (${code}): ${this.stderr.join('').trim().split('\n').pop() ?? ''}`));
      this.child.once('exit', fail);
      this.lines.once('line', (line) => {
        this.child.off('exit', fail);
        try {
          resolve(JSON.parse(line));
        } catch {
          reject(new Error(`bench_train_torch.py: unexpected output ${JSON.stringify(line.slice(0, 200))}`));
        }
      });
    });
  }
}
