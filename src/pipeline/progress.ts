// Progress of a pipeline run on stderr: a line when a stage starts and ends (with its wall time),
// and while trainings run, a status line every few seconds: runs done k/N, the running runs'
// steps, the aggregate steps/s and an ETA from the steps still to do. stdout stays clean.
import { formatSeconds } from '../util/format.js';

export interface ProgressSink {
  stageStart(stage: string, detail?: string): void;
  stageEnd(stage: string, detail?: string): void;
  /** Free-form note (one line). */
  note(text: string): void;
  /** Status of the trainings: called often; the sink rate-limits. */
  runs(status: RunsStatus): void;
}

export interface RunsStatus {
  readonly done: number;
  readonly total: number;
  readonly running: readonly { label: string; step: number; steps: number }[];
  readonly stepsDone: number;
  readonly stepsTotal: number;
  /** Steps per second over all trainings since the first started. */
  readonly stepsPerSec: number;
}

export const silentProgress: ProgressSink = { stageStart() {}, stageEnd() {}, note() {}, runs() {} };

export function stderrProgress(opts: { intervalMs?: number; write?: (s: string) => void } = {}): ProgressSink & { stageSeconds: Record<string, number> } {
  const write = opts.write ?? ((s: string) => process.stderr.write(s));
  const interval = opts.intervalMs ?? 5000;
  const t0 = performance.now();
  const started = new Map<string, number>();
  const stageSeconds: Record<string, number> = {};
  let last = 0;
  const clock = () => formatSeconds((performance.now() - t0) / 1000).padStart(6);
  return {
    stageSeconds,
    stageStart(stage, detail) {
      started.set(stage, performance.now());
      write(`[${clock()}] ${stage}: start${detail ? ` (${detail})` : ''}\n`);
    },
    stageEnd(stage, detail) {
      const s = (performance.now() - (started.get(stage) ?? t0)) / 1000;
      stageSeconds[stage] = (stageSeconds[stage] ?? 0) + s;
      write(`[${clock()}] ${stage}: done in ${formatSeconds(s)}${detail ? ` (${detail})` : ''}\n`);
    },
    note(text) {
      write(`[${clock()}] ${text}\n`);
    },
    runs(st) {
      const now = performance.now();
      if (now - last < interval && st.done < st.total) return;
      last = now;
      const eta = st.stepsPerSec > 0 ? formatSeconds((st.stepsTotal - st.stepsDone) / st.stepsPerSec) : '?';
      const running = st.running.map((r) => `${r.label} ${r.step}/${r.steps}`).join(', ');
      write(`[${clock()}] runs ${st.done}/${st.total} done, ${st.stepsPerSec.toFixed(1)} steps/s, ETA ${eta}${running ? ` | ${running}` : ''}\n`);
    },
  };
}
