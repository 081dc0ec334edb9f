// Reverse-mode autodiff over the IR: walks the lowered nodes backwards from the loss, calls each
// op family's backward rule, sums the gradients of values with several consumers, skips whatever
// needs no gradient (the batch, frozen parameters, buffers), and names the results grad.<value>.
import type { IRNode, Net } from './ir.js';
import type { GradCtx, LowerCtx } from './op.js';
import { opDef } from './ops/index.js';

export function gradName(value: string): string {
  return `grad.${value}`;
}

/** Values that depend on something in `wrt` (and so need a gradient). */
function requiringGrad(nodes: IRNode[], wrt: ReadonlySet<string>): Set<string> {
  const needs = new Set(wrt);
  for (const n of nodes) if (n.inputs.some((i) => needs.has(i))) for (const o of n.outputs) needs.add(o);
  return needs;
}

/**
 * Emits the backward pass of `nodes` (already lowered, in topological order) into c.e and
 * produces `grad.<v>` for every v in `wrt`.
 */
export function emitBackward(c: LowerCtx, nodes: IRNode[], loss: string, wrt: ReadonlySet<string>): void {
  const needs = requiringGrad(nodes, wrt);
  const contributions = new Map<string, string[]>([[loss, [c.e.f32(1)]]]);
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  const summed = new Map<string, string>();

  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => contributions.has(o))) continue;
    if (!n.inputs.some((i) => needs.has(i))) continue;
    const def = opDef(n);
    if (!def.backward) throw new Error(`node ${n.name}: op '${n.op}' has no backward rule`);
    const produced = new Map<number, string>();
    const g: GradCtx = Object.assign(Object.create(c) as LowerCtx, {
      n,
      I: (i: number) => n.inputs[i],
      O: (i: number) => n.outputs[i],
      GO: (i: number) => outputGrad(c, n, i, contributions, summed),
      needs: (i: number) => needs.has(n.inputs[i]),
      // A value used once and wanted by the caller gets its final name directly (no copy).
      GI: (i: number) => (wrt.has(n.inputs[i]) && uses.get(n.inputs[i]) === 1 ? gradName(n.inputs[i]) : `${n.name}/grad/in${i}`),
      alias: (i: number, value: string) => void produced.set(i, value),
      tmp: (s: string) => `${n.name}/grad/${s}`,
    });
    def.backward(g, n);
    n.inputs.forEach((input, i) => {
      if (!needs.has(input)) return;
      const grad = produced.get(i) ?? g.GI(i);
      if (!c.e.has(grad)) throw new Error(`node ${n.name}: op '${n.op}' backward produced no gradient for input ${i} (${input})`);
      const list = contributions.get(input) ?? [];
      list.push(grad);
      contributions.set(input, list);
    });
  }

  for (const v of wrt) {
    const out = gradName(v);
    const list = contributions.get(v) ?? [];
    if (list.length === 1 && list[0] === out) continue;
    if (list.length === 0) {
      // Not on the loss path: its gradient is zero.
      const shape = c.net.shape(v);
      if (shape.includes('N')) throw new Error(`${v}: does not reach the loss`);
      c.e.node('ConstantOfShape', [c.e.i64(shape as number[])], out);
    } else {
      c.e.node(list.length === 1 ? 'Identity' : 'Sum', list, out);
    }
  }
}

function outputGrad(c: LowerCtx, n: IRNode, i: number, contributions: Map<string, string[]>, summed: Map<string, string>): string | undefined {
  const v = n.outputs[i];
  const list = contributions.get(v);
  if (!list) return undefined;
  if (list.length === 1) return list[0];
  let s = summed.get(v);
  if (!s) {
    s = c.e.node('Sum', list, `${n.name}/grad/out${i}`);
    summed.set(v, s);
  }
  return s;
}

/** Nodes needed to compute `targets`, in topological order. */
export function nodesFor(net: Net, targets: string[]): IRNode[] {
  const producer = net.producers();
  const keep = new Set<IRNode>();
  const stack = [...targets];
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    stack.push(...n.inputs);
  }
  return net.nodes.filter((n) => keep.has(n));
}
