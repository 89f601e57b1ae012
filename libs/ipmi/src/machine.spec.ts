import { ManualClock } from '@bm/core';
import { SimulatedMachine } from './machine';

describe('SimulatedMachine', () => {
  it("records each change at its clock's time", () => {
    const clock = new ManualClock(1_700_000_000_000);
    const m = new SimulatedMachine({ clock });
    m.power('on');
    clock.advance(1500);
    m.setBootFlags({ device: 'pxe', persistent: true, efi: false, valid: true });
    clock.advance(500);
    m.power('reset');
    expect(m.events.map((e) => [e.at, e.op, e.action ?? e.boot?.device])).toEqual([
      [1_700_000_000_000, 'power', 'on'],
      [1_700_000_001_500, 'boot', 'pxe'],
      [1_700_000_002_000, 'power', 'reset'],
    ]);
  });
});
