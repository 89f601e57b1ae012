import { completeLines } from './lines';

describe('completeLines', () => {
  it('leaves out a line still being written', () => {
    expect(completeLines('a\r\nNOVA-BM-TEST-BOOT: BOOTIF=01-52 deploy')).toEqual(['a']);
  });

  it('keeps every line that ended, LF or CRLF, empty ones too', () => {
    expect(completeLines('a\n\r\nb\r\n')).toEqual(['a', '', 'b']);
    expect(completeLines('')).toEqual([]);
  });
});
