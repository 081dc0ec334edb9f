// Pool featurizers for targets with more input channels: conv1 filters copied cyclically over
// channels, so a digit in either channel of a ColoredMNIST image meets the grayscale filter.
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/graph/index.js';
import { adaptChannels } from '../../src/pipeline/pool.js';

describe('adaptChannels', () => {
  it('copies each 1-channel filter into every input channel and keeps the other tensors', () => {
    const gray = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 10 });
    const two = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [2, 28, 28], numClasses: 2 });
    const w = gray.initParams(3);
    const a = adaptChannels(w, two, 2);
    const src = w.get('featurizer.conv1.weight')!; // [8, 1, 3, 3]
    const dst = a.get('featurizer.conv1.weight')!; // [8, 2, 3, 3]
    expect(dst.length).toBe(2 * src.length);
    for (let o = 0; o < 8; o++) for (let c = 0; c < 2; c++) for (let k = 0; k < 9; k++) expect(dst[(o * 2 + c) * 9 + k]).toBe(src[o * 9 + k]);
    expect(a.get('featurizer.conv2.weight')).toBe(w.get('featurizer.conv2.weight'));
    expect([...a.keys()].every((k) => k.startsWith('featurizer.'))).toBe(true);
    expect(adaptChannels(w, gray, 1).get('featurizer.conv1.weight')).toBe(src);
  });
});
