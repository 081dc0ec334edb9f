// The contract between an op family and the compiler: a forward lowering to ONNX and a backward
// rule, both written against these contexts. The backward vocabulary follows ONNX Runtime's
// gradient builder: I/O (forward inputs/outputs), GO (output gradients), GI (input gradients).
import type { IRNode, Net } from './ir.js';
import type { OnnxEmitter } from './onnx-builder.js';

/** 'train': batch statistics, dropout active; 'eval': running statistics, dropout off. */
export type Mode = 'train' | 'eval';

/**
 * Formulation choices of the lowering, all exact (gradient-tested under every choice) and
 * differing only in speed on ORT CPU. The defaults are the measured fastest: `ratatouille bench
 * train --ab` times each one switched back, interleaved with the default. On the 2-core VM (load
 * 7-8, 1 thread) reverting all of them cost 26% wall / 23% CPU time on MNIST_CNN; the NCHWc
 * convolutions alone 9-10% (17% CPU on a 64×64 ResNet-18); the others a few percent each,
 * within run-to-run noise for some (see the bench for numbers).
 */
export interface Tuning {
  /**
   * Conv2d dW: 'batchMinor' = Gather im2col with the batch innermost + one Gemm that reads it
   * unpacked; 'gather' = the same with batch-major NHWC rows (packed by the Gemm); 'onehot' =
   * one-hot Conv im2col + MatMul; 'auto' = batchMinor, or onehot for layers with few input channels.
   */
  convWeightGrad: 'auto' | 'gather' | 'batchMinor' | 'onehot';
  /** Stride-1 Conv2d dX: 'conv' = Conv with the flipped kernel; 'convTranspose'; 'auto' = by output size. */
  convInputGrad: 'auto' | 'conv' | 'convTranspose';
  /** GroupNorm / BatchNorm: 'fused' = LayerNormalization forward, sums-based backward; 'decomposed' = ReduceMean chains. */
  norm: 'fused' | 'decomposed';
  /** ReLU backward: 'mul' = dY·float(Y>0); 'where' = Where(Y>0, dY, 0). */
  reluGrad: 'mul' | 'where';
  /**
   * Conv2d forward and stride-1 dX: 'nchwc' = ORT's blocked-layout direct convolution (ops/nchwc.ts)
   * where the graph knows the block size (LowerCtx.nchwcBlock) and the channels fit it; 'nchw' =
   * the standard Conv (im2col + GEMM when the weights are not constants).
   */
  convLayout: 'nchwc' | 'nchw';
  /**
   * 3×3 stride-1 Conv2d in training graphs: 'F2' / 'F4' = Winograd F(2×2, 3×3) / F(4×4, 3×3)
   * (ops/winograd.ts) for forward, dX and dW; 'off' = the direct formulations above; 'auto' =
   * Winograd in CPU graphs for layers with at least WINOGRAD_MIN_CHANNELS input and output channels.
   */
  convWinograd: 'auto' | 'F2' | 'F4' | 'off';
}

export const DEFAULT_TUNING: Readonly<Tuning> = { convWeightGrad: 'auto', convInputGrad: 'auto', norm: 'fused', reluGrad: 'mul', convLayout: 'nchwc', convWinograd: 'auto' };

export interface LowerCtx {
  readonly e: OnnxEmitter;
  readonly net: Net;
  readonly mode: Mode;
  /** Dropout probability applied by Dropout nodes in 'train' mode. */
  readonly dropoutP: number;
  readonly tuning: Readonly<Tuning>;
  /** Channel block of ORT's NCHWc kernels on this machine (16 with AVX-512, 8 with AVX2); 0: standard ops only. */
  readonly nchwcBlock: number;
  /** Declares a per-step float input fed by the session (dropout masks); returns its name. */
  randomInput(name: string, perExampleShape: number[], p: number): string;
  /** Declares an output `next.<buffer>` for the buffer's updated value; returns the name to produce. */
  bufferUpdate(buffer: string): string;
}

export interface GradCtx extends LowerCtx {
  readonly n: IRNode;
  /** Forward input / output names. */
  I(i: number): string;
  O(i: number): string;
  /** Gradient of output i, summed over its consumers; undefined if nothing flows back. */
  GO(i: number): string | undefined;
  /** Whether input i needs a gradient (trainable, or derived from something trainable). */
  needs(i: number): boolean;
  /** The name the rule must produce for input i's gradient. */
  GI(i: number): string;
  /** Declares an existing value as input i's gradient instead of producing GI(i). */
  alias(i: number, value: string): void;
  /** A unique intermediate name `<node>/grad/<s>`. */
  tmp(s: string): string;
}

export interface OpDef {
  lower(c: LowerCtx, n: IRNode): void;
  /** Absent for ops nothing is differentiated through; the compiler throws if one is needed. */
  backward?(g: GradCtx, n: IRNode): void;
}

/** A forward intermediate of node n that its backward rule reuses: `<node>/<s>`. */
export function saved(n: IRNode, s: string): string {
  return `${n.name}/${s}`;
}
