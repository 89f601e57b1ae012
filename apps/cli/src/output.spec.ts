import type { NodeView } from '@bm/enrollment';
import { nodeTable, nodesTable, table } from './output';

// A node enrolled before control characters were refused: its pm_user is an ANSI sequence that
// clears the screen and sets the window title.
const node: NodeView = {
  id: 1,
  uuid: '6f1c7c0e-0000-4000-8000-000000000001',
  service_host: 'cn1',
  cpus: 1,
  memory_mb: 512,
  local_gb: 5,
  cpu_arch: 'x86_64',
  pm_address: '10.0.0.1:623',
  pm_user: '\u001b[2J\u001b]0;owned\u0007admin',
  pm_password: '******',
  terminal_port: null,
  instance_uuid: null,
  instance_name: 'web\nforged-row',
  task_state: null,
  created_at: null,
  updated_at: null,
  interfaces: [
    { id: 1, address: '52:54:00:00:00:01', datapath_id: null, port_no: null, vif_uuid: null },
    { id: 2, address: '52:54:00:00:00:02', datapath_id: null, port_no: null, vif_uuid: null },
  ],
};

describe('bmctl tables', () => {
  it('show control characters of values escaped, never send them to the terminal', () => {
    for (const out of [nodesTable([node]), nodeTable(node)]) {
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/); // only the table's own newlines
      expect(out).toContain('\\x1b[2J\\x1b]0;owned\\x07admin');
    }
    expect(nodeTable(node)).toContain('web\\nforged-row');
  });

  it('a list is one value per line of its cell (the MACs of a node)', () => {
    const lines = nodesTable([node]).split('\n');
    expect(lines.some((l) => l.includes('52:54:00:00:00:01'))).toBe(true);
    expect(lines.some((l) => l.includes('52:54:00:00:00:02') && !l.includes('52:54:00:00:00:01'))).toBe(true);
    expect(table(['A'], [[['x', 'y\u001b']]])).toContain('y\\x1b');
  });
});
