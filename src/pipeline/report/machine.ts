// The machine a run used, for the report's metadata (the pipeline fills `accelerator` itself).
import { cpus, release, totalmem, type } from 'node:os';
import type { Machine } from './schema.js';

export function currentMachine(accelerator: string | null = null): Machine {
  const cpu = cpus();
  return {
    os: `${type()} ${release()}`,
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: Math.max(1, cpu.length),
    memoryBytes: totalmem(),
    node: process.versions.node,
    accelerator,
  };
}
