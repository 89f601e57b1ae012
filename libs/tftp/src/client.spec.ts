import { TftpReadTransfer, type TftpStep, TftpTransferFailed } from './client';

// Every datagram as bytes: opcode, then the fields (RFC 1350 §5, RFC 2347 OACK).
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const data = (block: number, payload: Buffer) =>
  Buffer.concat([hex(`0003 ${block.toString(16).padStart(4, '0')}`), payload]);
const ack = (block: number) => hex(`0004 ${block.toString(16).padStart(4, '0')}`);
const sent = (s: TftpStep) => s.send.map((d) => ({ hex: d.data.toString('hex'), port: d.port }));
const SERVER_TID = 40123;

describe('TftpReadTransfer (RFC 1350 read, RFC 2347/2348/2349 options)', () => {
  it('asks as pxelinux does: octet, blksize 1468, tsize 0', () => {
    const t = new TftpReadTransfer('pxelinux.0');
    expect(t.start()).toEqual(
      hex(
        `0001 ${ascii('pxelinux.0')}00 ${ascii('octet')}00 ${ascii('blksize')}00 ${ascii('1468')}00 ${ascii('tsize')}00 ${ascii('0')}00`,
      ),
    );
  });

  it('sends no options for blksize 512 without tsize', () => {
    const t = new TftpReadTransfer('a', { blksize: 512, tsize: false });
    expect(t.start()).toEqual(hex(`0001 61 00 ${ascii('octet')}00`));
  });

  it('acknowledges the OACK with ACK 0, then each block; the short block ends it; tsize checked', () => {
    const t = new TftpReadTransfer('f', { blksize: 8 });
    t.start();
    const oack = hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00 ${ascii('tsize')}00 ${ascii('11')}00`);
    expect(sent(t.receive(oack, SERVER_TID))).toEqual([{ hex: '00040000', port: undefined }]);
    expect([t.blksize, t.tsize, t.serverPort]).toEqual([8, 11, SERVER_TID]);
    const one = t.receive(data(1, Buffer.from('01234567')), SERVER_TID);
    expect(sent(one)).toEqual([{ hex: '00040001', port: undefined }]);
    expect(one.result).toBeUndefined();
    const two = t.receive(data(2, Buffer.from('89a')), SERVER_TID);
    expect(sent(two)).toEqual([{ hex: '00040002', port: undefined }]);
    expect(two.result).toEqual({ ok: true, data: Buffer.from('0123456789a'), bytes: 11 });
    expect(t.finished).toBe(true);
    expect(t.receive(data(2, Buffer.from('89a')), SERVER_TID)).toEqual({ send: [] });
  });

  it('fails when the bytes received are not the tsize announced', () => {
    const t = new TftpReadTransfer('f', { blksize: 8 });
    t.receive(hex(`0006 ${ascii('tsize')}00 ${ascii('20')}00`), SERVER_TID);
    const s = t.receive(data(1, Buffer.from('abc')), SERVER_TID);
    expect(sent(s)).toEqual([{ hex: '00040001', port: undefined }]); // the last block is still acknowledged
    expect(s.result).toMatchObject({ ok: false, error: expect.any(TftpTransferFailed) });
    expect(s.result!.ok ? '' : s.result!.error.message).toBe('f: 3 bytes received, tsize was 20');
  });

  it('takes DATA 1 straight away from a server that ignores the options (512-byte blocks)', () => {
    const t = new TftpReadTransfer('f');
    const block = Buffer.alloc(512, 1);
    expect(t.receive(data(1, block), SERVER_TID).result).toBeUndefined();
    expect(t.blksize).toBe(512);
    expect(t.receive(data(2, Buffer.alloc(0)), SERVER_TID).result).toEqual({ ok: true, data: block, bytes: 512 });
  });

  it('an ERROR from the server fails the transfer with its code and message', () => {
    const t = new TftpReadTransfer('pxelinux.cfg/01-52-54-00-83-00-01');
    const s = t.receive(hex(`0005 0001 ${ascii('file not found')}00`), SERVER_TID);
    expect(s.send).toEqual([]);
    expect(s.result).toMatchObject({ ok: false });
    const e = (s.result as { error: TftpTransferFailed }).error;
    expect([e.code, e.message]).toEqual([1, 'pxelinux.cfg/01-52-54-00-83-00-01: TFTP error 1: file not found']);
  });

  it('answers a packet from another TID with ERROR 5 there and goes on', () => {
    const t = new TftpReadTransfer('f', { blksize: 8, tsize: false });
    t.receive(hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00`), SERVER_TID);
    const s = t.receive(data(1, Buffer.from('x')), 5555);
    expect(s.send.map((d) => [d.data.subarray(0, 4).toString('hex'), d.port])).toEqual([['00050005', 5555]]);
    expect(s.result).toBeUndefined();
    expect(t.receive(data(1, Buffer.from('x')), SERVER_TID).result).toEqual({
      ok: true,
      data: Buffer.from('x'),
      bytes: 1,
    });
  });

  it('acknowledges a repeated block again (its ACK was lost) and a repeated OACK with ACK 0', () => {
    const t = new TftpReadTransfer('f', { blksize: 8, tsize: false });
    const oack = hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00`);
    t.receive(oack, SERVER_TID);
    expect(sent(t.receive(oack, SERVER_TID))).toEqual([{ hex: '00040000', port: undefined }]);
    t.receive(data(1, Buffer.alloc(8)), SERVER_TID);
    expect(sent(t.receive(data(1, Buffer.alloc(8)), SERVER_TID))).toEqual([{ hex: '00040001', port: undefined }]);
    expect(t.retransmits).toBe(2);
    expect(t.receive(data(3, Buffer.alloc(2)), SERVER_TID)).toEqual({ send: [] }); // ahead: ignored
  });

  it('counts blocks past 65535 (the block number wraps to 0)', () => {
    const t = new TftpReadTransfer('big', { blksize: 8, tsize: false });
    t.receive(hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00`), SERVER_TID);
    const wrongAcks: number[] = [];
    const block = Buffer.alloc(8);
    for (let n = 1; n <= 65536; n++) {
      const s = t.receive(data(n & 0xffff, block), SERVER_TID);
      if (!s.send[0].data.equals(ack(n & 0xffff))) wrongAcks.push(n);
    }
    expect(wrongAcks).toEqual([]);
    const end = t.receive(data(1, Buffer.alloc(0)), SERVER_TID);
    expect(end.send[0].data).toEqual(ack(1));
    expect(end.result?.ok && end.result.data.length).toBe(65536 * 8);
  });

  it('discard: the bytes are counted (and checked against tsize), the data dropped', () => {
    const t = new TftpReadTransfer('vmlinuz', { blksize: 8, discard: true });
    t.receive(hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00 ${ascii('tsize')}00 ${ascii('12')}00`), SERVER_TID);
    t.receive(data(1, Buffer.alloc(8, 1)), SERVER_TID);
    const end = t.receive(data(2, Buffer.alloc(4, 2)), SERVER_TID);
    expect(end.result).toEqual({ ok: true, data: Buffer.alloc(0), bytes: 12 });
    const short = new TftpReadTransfer('vmlinuz', { blksize: 8, discard: true });
    short.receive(hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00 ${ascii('tsize')}00 ${ascii('13')}00`), SERVER_TID);
    short.receive(data(1, Buffer.alloc(8)), SERVER_TID);
    expect(short.receive(data(2, Buffer.alloc(4)), SERVER_TID).result).toMatchObject({ ok: false });
  });

  it('resends the last datagram on a timeout, and gives up after `retries`', () => {
    const t = new TftpReadTransfer('f', { retries: 2 });
    const rrq = t.start();
    expect(t.timeout().send).toEqual([{ data: rrq }]);
    expect(t.timeout().send).toEqual([{ data: rrq }]);
    const s = t.timeout();
    expect(s.send).toEqual([]);
    expect((s.result as { error: Error }).error.message).toBe('f: no answer to the request after 2 retransmissions');
  });

  it('refuses what it never asked for, and a block larger than blksize, telling the server', () => {
    const t = new TftpReadTransfer('f', { tsize: false });
    const s = t.receive(hex(`0006 ${ascii('tsize')}00 ${ascii('9')}00`), SERVER_TID);
    expect(s.send[0].data.subarray(0, 4)).toEqual(hex('0005 0008'));
    expect(s.result?.ok).toBe(false);

    const u = new TftpReadTransfer('g', { blksize: 8, tsize: false });
    u.receive(hex(`0006 ${ascii('blksize')}00 ${ascii('8')}00`), SERVER_TID);
    const v = u.receive(data(1, Buffer.alloc(9)), SERVER_TID);
    expect(v.send[0].data.subarray(0, 4)).toEqual(hex('0005 0004'));
    expect(v.result?.ok).toBe(false);
  });

  it('refuses a file over maxBytes with ERROR 3 (from the tsize, or as the bytes come)', () => {
    const t = new TftpReadTransfer('f', { maxBytes: 10 });
    const s = t.receive(hex(`0006 ${ascii('tsize')}00 ${ascii('11')}00`), SERVER_TID);
    expect(s.send[0].data.subarray(0, 4)).toEqual(hex('0005 0003'));
    const u = new TftpReadTransfer('g', { maxBytes: 600, tsize: false, blksize: 512 });
    u.receive(data(1, Buffer.alloc(512)), SERVER_TID);
    expect(u.receive(data(2, Buffer.alloc(100)), SERVER_TID).result?.ok).toBe(false);
  });

  it('ignores undecodable noise before the server answered', () => {
    const t = new TftpReadTransfer('f');
    expect(t.receive(hex('ff'), 7)).toEqual({ send: [] });
    expect(t.serverPort).toBeUndefined();
  });
});
