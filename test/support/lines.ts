/**
 * The complete lines of `text` (CRLF or LF): what follows the last line end is left out. A file or
 * stream read while its writer is still at work (a VM's serial console, a process's output) can end
 * inside a line; a check against that cut line sees half of it (`deployment_id=7` missing).
 */
export function completeLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  lines.pop();
  return lines;
}
