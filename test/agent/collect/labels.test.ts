import { describe, expect, it } from 'vitest';
import { isSpace } from '../../../src-agent/collect/labels.ts';

describe('isSpace', () => {
  it('takes exactly what String.prototype.trim takes for white space, of every UTF-16 unit', () => {
    const disagree: string[] = [];
    for (let code = 0; code <= 0xffff; code++) {
      const trimmed = String.fromCharCode(code).trim() === '';
      if (isSpace(code) !== trimmed) disagree.push(code.toString(16));
    }
    expect(disagree).toEqual([]);
  });
});
